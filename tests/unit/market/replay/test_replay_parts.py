"""Replay building blocks: derived keys and ids, the step clock, EV stays and the grid pass."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from eth_account import Account

from market.replay.derive import (
    derived_address,
    derived_key,
    derived_uuid,
    pseudonym,
    salted_commitment,
)
from market.replay.grid import grid_pass
from market.replay.scenario import ScenarioError, parse_scenario
from market.replay.simclock import StepClock
from market.replay.world import station_faults, station_specs, stays

BASE: dict[str, Any] = {
    "name": "parts",
    "seed": 3,
    "period": {"day": "2026-06-15", "isp_s": 900, "meter_interval_s": 300},
    "grid": {"kind": "cigre_lv", "code": None},
    "participants": [
        {"id": "dso", "role": "DSO", "name": "DSO"},
        {"id": "emsp", "role": "EMSP", "name": "EMSP"},
        {"id": "cpo", "role": "CPO", "name": "CPO"},
    ],
    "stations": [
        {
            "id": "CS1",
            "ocpp": "2.1",
            "bus": "Bus R11",
            "cpo": "cpo",
            "evses": [{"id": 1, "max_import_w": 20000, "max_export_w": 20000}],
        }
    ],
    "evs": [
        {
            "id": f"ev{k}",
            "fsp": "emsp",
            "battery_wh": 60000,
            "max_charge_w": 11000,
            "max_discharge_w": 11000,
            "station": "CS1",
            "arrival": arrival,
            "departure": departure,
            "soc_arrival_pct": 40,
        }
        for k, (arrival, departure) in enumerate((("13:00", "17:00"), ("08:00", "12:00")))
    ],
    "faults": [{"kind": "meter_gap", "station": "CS1", "at": "09:00", "duration_s": 1800}],
    "sessions": [{"id": "da"}],
}


def test_derived_keys_are_stable_valid_and_distinct() -> None:
    assert derived_key(1, "dso") == derived_key(1, "dso")
    assert derived_key(1, "dso") != derived_key(2, "dso") != derived_key(1, "emsp")
    assert Account.from_key(derived_key(1, "dso")).address == derived_address(1, "dso")
    assert derived_uuid(1, "a", 2) == derived_uuid(1, "a", 2) != derived_uuid(1, "a", 3)


def test_published_names_are_seeded_pseudonyms_and_commitments() -> None:
    """The same seed names a user the same way (replays stay byte-identical); the name
    neither contains the user id nor is a plain hash of it, and another seed names them
    otherwise."""
    name = pseudonym(43, "ev-user", "alessandro")
    assert name == pseudonym(43, "ev-user", "alessandro")
    assert name.startswith("ev-user-") and len(name) == len("ev-user-") + 12
    assert "alessandro" not in name and name != pseudonym(44, "ev-user", "alessandro")
    assert name != pseudonym(43, "ev-user", "user-02") != pseudonym(43, "ev", "alessandro")
    opened = salted_commitment(43, "departure", "city-ev-01", 1_779_798_600)
    assert opened == salted_commitment(43, "departure", "city-ev-01", 1_779_798_600)
    assert opened != salted_commitment(43, "departure", "city-ev-01", 1_779_798_601)
    assert len(opened) == 66 and opened.startswith("0x")


def test_step_clock_sleeps_until_time_is_moved() -> None:
    async def main() -> list[float]:
        clock = StepClock(1000)
        woke: list[float] = []

        async def sleeper() -> None:
            await clock.sleep(300)
            woke.append(clock.now())

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0.01)
        clock.set(1200)
        await asyncio.sleep(0.01)
        assert not woke  # 1200 < 1300: still asleep
        clock.set(1300)
        await asyncio.wait_for(task, 1)
        with pytest.raises(ValueError, match="back"):
            clock.set(1299)
        return woke

    assert asyncio.run(main()) == [1300.0]


def test_each_stay_gets_its_own_connector_in_arrival_order() -> None:
    sc = parse_scenario(BASE)
    got = [(s.ev.id, s.evse) for s in stays(sc)]
    assert got == [("ev1", 101), ("ev0", 102)]
    (spec,) = station_specs(sc, stays(sc))
    assert [e.evse_id for e in spec.evses] == [101, 102]
    assert spec.protocol == "ocpp2.1" and spec.private_key is not None
    faults, replay_side = station_faults(sc, "CS1")
    assert faults.gap_to_unix - faults.gap_from_unix == 1800 and replay_side == []


def test_grid_pass_names_a_station_on_an_unknown_bus() -> None:
    data = copy.deepcopy(BASE)
    data["stations"][0]["bus"] = "Bus R999"
    grid, problems = grid_pass(parse_scenario(data))
    assert grid is not None
    assert [p.path for p in problems] == ["stations[0].bus"]
    assert "Bus R999" in problems[0].reason


def test_every_problem_of_both_passes_is_reported_at_once() -> None:
    data = copy.deepcopy(BASE)
    data["stations"][0]["bus"] = "Bus R999"  # grid pass
    data["stations"][0]["ocpp"] = "1.5"  # static: unknown OCPP version
    data["evs"][0]["departure"] = "12:00"  # static: departs before it arrives (13:00)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, more_checks=lambda sc: grid_pass(sc)[1])
    paths = {p.path for p in info.value.problems}
    assert {"stations[0].bus", "stations[0].ocpp", "evs[0].departure"} <= paths


def test_sessions_that_would_overlap_in_the_replay_are_named() -> None:
    from market.replay.grid import session_pass

    data = copy.deepcopy(BASE)
    data["sessions"] = [
        {"id": "da"},
        {"id": "id1", "kind": "intraday", "gate_closure": "10:00", "delivery_start": "11:00",
         "delivery_end": "12:00"},
    ]  # fmt: skip
    problems = session_pass(parse_scenario(data))
    assert [p.path for p in problems] == ["sessions[1].gate_closure"]
    data["sessions"] = [{"id": "da"}]
    assert session_pass(parse_scenario(data)) == []
