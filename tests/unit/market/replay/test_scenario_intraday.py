"""Intraday schedules in the scenario format (issue 15 item 7): expanded deterministically into
sessions whose gate closes a fixed time before delivery, and refused by named field when they
cannot be expanded or run."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_scenario import MINIMAL

from market.replay.grid import session_pass
from market.replay.scenario import (
    ScenarioError,
    clock_to_unix,
    load_scenario,
    parse_scenario,
    unix_to_clock,
)

ROOT = Path(__file__).resolve().parents[4]


def _with(intraday: dict[str, Any], **market: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    data["sessions"] = [{"id": "da", "delivery_end": "09:00"}]
    data["intraday"] = intraday
    if market:
        data["market"] = market
    return data


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data)
    return {p.path: p.reason for p in err.value.problems}


def test_hourly_schedule_expands_after_the_explicit_sessions() -> None:
    sc = parse_scenario(_with({"every_s": 3600, "from": "12:00", "until": "15:00"}))
    assert [s.id for s in sc.sessions] == [
        "da",
        "intraday-20260615T1200",
        "intraday-20260615T1300",
        "intraday-20260615T1400",
    ]
    assert [s.kind for s in sc.sessions] == ["day_ahead", "intraday", "intraday", "intraday"]
    for s in sc.sessions[1:]:
        # the default gate closes 15 minutes before delivery; delivery lasts an hour
        assert sc.at(s.delivery_start) - sc.at(s.gate_closure) == 900
        assert sc.at(s.delivery_end) - sc.at(s.delivery_start) == 3600
    assert parse_scenario(_with({"every_s": 3600, "from": "12:00", "until": "15:00"})) == sc


def test_schedule_keeps_whole_sessions_only_and_crosses_midnight() -> None:
    sc = parse_scenario(
        _with(
            {
                "every_s": 5400,
                "gate_before_delivery_s": 1800,
                "delivery_s": 2700,
                "from": "22:30",
                "until": "D+1T01:30",
                "id_prefix": "id",
            }
        )
    )
    intraday = sc.sessions[1:]
    assert [(s.gate_closure, s.delivery_start, s.delivery_end) for s in intraday] == [
        ("22:00", "22:30", "23:15"),
        ("23:30", "D+1T00:00", "D+1T00:45"),
    ]  # 01:30 -> 02:15 would end after `until`
    assert [s.id for s in intraday] == ["id-20260615T2230", "id-20260616T0000"]


@pytest.mark.parametrize("clock", ["00:00", "12:45", "D-1T12:00", "D+1T00:00", "D+2T23:59"])
def test_unix_to_clock_inverts_clock_to_unix(clock: str) -> None:
    day = dt.date(2026, 6, 15)
    assert unix_to_clock(day, clock_to_unix(day, clock)) == clock


def test_bad_schedules_are_refused_by_field() -> None:
    problems = _problems(
        _with(
            {
                "every_s": 3630,
                "gate_before_delivery_s": 90,
                "delivery_s": 1200,
                "from": "12:00",
                "until": "12:15",
            }
        )
    )
    assert problems["intraday.every_s"].startswith("must be whole minutes")
    assert problems["intraday.gate_before_delivery_s"].startswith("must be whole minutes")
    assert problems["intraday.delivery_s"].startswith("is not a whole number of ISPs")
    assert problems["intraday.until"].startswith("no session of delivery_s = 1200 fits")


def test_schedule_fields_are_checked_by_the_format() -> None:
    problems = _problems(_with({"from": "12:00", "gate_before_delivery_s": 0, "hourly": True}))
    assert set(problems) == {
        "intraday.until",
        "intraday.gate_before_delivery_s",
        "intraday.hourly",
    }


def test_too_many_sessions_are_refused() -> None:
    problems = _problems(
        _with({"every_s": 900, "delivery_s": 900, "from": "00:00", "until": "D+2T00:00"})
    )
    assert problems == {"intraday.every_s": "the schedule makes more than 96 sessions"}


def test_an_expanded_id_that_clashes_is_named_by_its_schedule() -> None:
    data = _with({"from": "12:00", "until": "13:00"})
    data["sessions"].append({"id": "intraday-20260615T1200", "delivery_end": "10:00"})
    problems = _problems(data)
    assert problems == {
        "intraday (session intraday-20260615T1200).id": (
            "duplicate session id 'intraday-20260615T1200'"
        )
    }


def test_replay_refuses_an_intraday_session_that_opens_before_the_previous_is_final() -> None:
    # day-ahead delivers until 09:00, final at 09:00 + 15 min grace + 1 h challenge = 10:15;
    # the 10:00 intraday session opens an hour before its 09:45 gate: 08:45
    data = _with({"from": "10:00", "until": "12:00"})
    sc = parse_scenario(data)
    problems = {p.path: p.reason for p in session_pass(sc)}
    assert set(problems) == {
        "intraday (session intraday-20260615T1000).gate_closure",
        "intraday (session intraday-20260615T1100).gate_closure",
    }
    spaced = parse_scenario(
        _with(
            {"every_s": 10800, "from": "11:15", "until": "18:00"},
            challenge_window_s=1800,
        )
    )
    assert session_pass(spaced) == []


def test_bundled_intraday_scenario_mixes_day_ahead_and_intraday() -> None:
    sc = load_scenario(ROOT / "scripts" / "scenarios" / "uc4-3-terni-intraday.yaml")
    kinds = {s.kind for s in sc.sessions}
    assert kinds == {"day_ahead", "intraday"}
    intraday = [s for s in sc.sessions if s.kind == "intraday"]
    assert [s.delivery_start for s in intraday] == ["11:45", "14:45"]
    for s in intraday:
        assert sc.at(s.delivery_start) - sc.at(s.gate_closure) == 15 * 60
    assert session_pass(sc) == []


def test_readme_intraday_example_validates_and_runs_in_sequence() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8").split("## Scenarios", 1)[1]
    example, intraday = re.findall(r"```yaml\n(.*?)```", text, re.S)[:2]
    data = {**yaml.safe_load(example), **yaml.safe_load(intraday)}
    sc = parse_scenario(data, source="README.md")
    assert [(s.id, s.kind, s.delivery_start) for s in sc.sessions[1:]] == [
        ("intraday-20260122T1145", "intraday", "11:45"),
        ("intraday-20260122T1545", "intraday", "15:45"),
    ]
    assert session_pass(sc) == []
