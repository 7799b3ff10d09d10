"""Scenario validation: every problem reported by path, before anything starts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from market.replay.scenario import ScenarioError, clock_to_unix, load_scenario, parse_scenario

MINIMAL: dict[str, Any] = {
    "name": "mini",
    "seed": 7,
    "period": {"day": "2026-06-15", "isp_s": 900},
    "grid": {"kind": "cigre_lv", "code": None, "buses": ["R11", "R15"]},
    "participants": [
        {"id": "dso", "role": "DSO", "name": "DSO"},
        {"id": "emsp", "role": "EMSP", "name": "EMSP"},
        {"id": "cpo", "role": "CPO", "name": "CPO"},
    ],
    "stations": [
        {
            "id": "CS1",
            "ocpp": "2.1",
            "bus": "R11",
            "cpo": "cpo",
            "evses": [{"id": 1, "max_import_w": 20000, "max_export_w": 20000}],
        }
    ],
    "evs": [
        {
            "id": "ev1",
            "fsp": "emsp",
            "battery_wh": 60000,
            "max_charge_w": 11000,
            "max_discharge_w": 11000,
            "station": "CS1",
            "arrival": "08:00",
            "departure": "17:00",
            "soc_arrival_pct": 40,
        }
    ],
    "sessions": [{"id": "da"}],
}


def test_minimal_scenario_is_accepted() -> None:
    sc = parse_scenario(MINIMAL)
    assert sc.at("08:00") - sc.at("00:00") == 8 * 3600
    assert sc.at("D-1T12:00") == sc.at("00:00") - 12 * 3600


def test_malformed_scenario_lists_every_problem_by_path() -> None:
    bad = copy.deepcopy(MINIMAL)
    bad["stations"][0]["ocpp"] = "3.0"
    bad["stations"].append(
        {
            "id": "CS2",
            "ocpp": "2.1",
            "bus": "NOWHERE",
            "cpo": "cpo",
            "evses": [{"id": 1, "max_import_w": 7000}],
        }
    )
    bad["evs"][0]["departure"] = "07:00"
    bad["evs"].append({**bad["evs"][0], "id": "ev2", "station": "CS9", "departure": "18:00"})
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad)
    paths = {(p.path, p.reason.split(" ")[0]) for p in err.value.problems}
    reasons = {p.path: p.reason for p in err.value.problems}
    assert "unknown OCPP version" in reasons["stations[0].ocpp"]
    assert "unknown bus" in reasons["stations[1].bus"]
    assert "before it arrives" in reasons["evs[0].departure"]
    assert "unknown station" in reasons["evs[1].station"]
    assert len(paths) >= 4


def test_schema_errors_are_reported_together_with_their_paths() -> None:
    bad = copy.deepcopy(MINIMAL)
    bad["period"]["isp_s"] = -5
    bad["evs"][0]["battery_wh"] = "lots"
    bad["unexpected"] = 1
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad)
    paths = {p.path for p in err.value.problems}
    assert {"period.isp_s", "evs[0].battery_wh", "unexpected"} <= paths


def test_discharge_on_a_protocol_without_v2g_is_refused() -> None:
    bad = copy.deepcopy(MINIMAL)
    bad["stations"][0]["ocpp"] = "1.6"
    with pytest.raises(ScenarioError, match="cannot express discharge"):
        parse_scenario(bad)


def test_clock_times_shift_by_days() -> None:
    import datetime as dt

    day = dt.date(2026, 6, 15)
    assert clock_to_unix(day, "D+1T00:00") - clock_to_unix(day, "00:00") == 86400


def test_unreadable_yaml_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.problems[0].path == "<yaml>"
