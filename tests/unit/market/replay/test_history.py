"""Meter history before the delivery day: the baseline warning, and history readings an X-of-Y
baseline can work on (signed, monotone, ending where the live meters start)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters.ocpp.simulator.evse import EvseState
from clearing.settlement.baselines import compute_baseline
from clearing.settlement.meter import prepare_meter_data
from clearing.settlement.rules import SettlementRules
from market.agents.fleet import FleetPolicy, Horizon, baseline, build_frame
from market.replay.grid import grid_pass
from market.replay.history import DAY_S, baseline_warnings, first_sample, meter_history
from market.replay.scenario import ScenarioError, parse_scenario
from market.replay.world import agent_ev, station_address, station_specs, stays

BASE: dict[str, Any] = {
    "name": "history",
    "seed": 7,
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
            "station": "CS1",
            "arrival": arrival,
            "departure": departure,
            "soc_arrival_pct": 40,
        }
        for k, (arrival, departure) in enumerate((("13:00", "17:00"), ("08:00", "12:00")))
    ],
    "market": {"baseline": "x_of_y"},
    "sessions": [{"id": "da"}],
}


def _scenario(**changes: Any) -> Any:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return parse_scenario(data)


def test_x_of_y_without_history_is_warned_by_name() -> None:
    (warning,) = baseline_warnings(_scenario())
    assert warning.path == "market.baseline"
    assert "x_of_y" in warning.reason and "0 history day(s)" in warning.reason
    assert "pays 0" in warning.reason


def test_x_of_y_with_fewer_history_days_than_x_is_warned() -> None:
    (warning,) = baseline_warnings(_scenario(history={"days": 3}))
    assert "4 of the last 5" in warning.reason and "3 history day(s)" in warning.reason


def test_x_of_y_with_enough_history_and_nominated_are_not_warned() -> None:
    assert baseline_warnings(_scenario(history={"days": 5})) == []
    assert baseline_warnings(_scenario(market={"baseline": "nominated"})) == []


def test_x_of_y_parameters_come_from_the_scenario() -> None:
    (warning,) = baseline_warnings(
        _scenario(market={"baseline": "x_of_y", "x_of_y_x": 3, "x_of_y_y": 10}, history={"days": 2})
    )
    assert "3 of the last 10" in warning.reason
    assert (
        baseline_warnings(
            _scenario(
                market={"baseline": "x_of_y", "x_of_y_x": 2, "x_of_y_y": 3}, history={"days": 2}
            )
        )
        == []
    )
    with pytest.raises(ScenarioError) as info:
        _scenario(market={"baseline": "x_of_y", "x_of_y_x": 6, "x_of_y_y": 5})
    assert [p.path for p in info.value.problems] == ["market.x_of_y_x"]


def test_meter_before_without_history_is_warned() -> None:
    (warning,) = baseline_warnings(_scenario(market={"baseline": "meter_before"}))
    assert warning.path == "market.baseline" and "meter_before" in warning.reason
    assert not baseline_warnings(
        _scenario(market={"baseline": "meter_before"}, history={"days": 1})
    )


def test_day_scale_list_must_name_every_day() -> None:
    with pytest.raises(ScenarioError) as info:
        _scenario(history={"days": 5, "day_scale_ppm": [1_000_000]})
    assert [p.path for p in info.value.problems] == ["history.day_scale_ppm"]


def test_no_history_section_means_no_readings_and_meters_from_zero() -> None:
    sc = _scenario()
    grid, _ = grid_pass(sc)
    assert grid is not None
    history = meter_history(sc, grid, stays(sc))
    assert history.readings == [] and history.registers == {}
    (spec,) = station_specs(sc, stays(sc), history.registers)
    assert all(e.initial_import_wh == 0 == e.initial_export_wh for e in spec.evses)


def test_history_feeds_an_x_of_y_baseline_equal_to_uncontrolled_charging() -> None:
    """Day D-5 at half power is the low day 4-of-5 "highest" leaves out: the baseline of an
    order at 14:00-15:00 is the stay's uncontrolled charging, as the FSP's prognosis says."""
    scale = [1_000_000, 1_000_000, 1_000_000, 1_000_000, 500_000]
    sc = _scenario(history={"days": 5, "day_scale_ppm": scale})
    grid, _ = grid_pass(sc)
    assert grid is not None
    all_stays = stays(sc)
    history = meter_history(sc, grid, all_stays)
    stop = first_sample(sc)
    start = sc.at("00:00")
    assert all(start - 5 * DAY_S <= h.reading.timestamp < stop for h in history.readings)
    by_meter: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for h in history.readings:
        by_meter.setdefault(h.reading.key, []).append((h.reading.timestamp, h.reading.import_wh))
    for key, points in by_meter.items():
        times = [t for t, _ in points]
        assert times == sorted(set(times))  # one reading per instant
        registers = [r for _, r in points]
        assert registers == sorted(registers)  # registers only grow
        assert registers[-1] == history.registers[key][0]  # live meters continue from here
    (spec,) = station_specs(sc, all_stays, history.registers)
    assert {e.evse_id: e.initial_import_wh for e in spec.evses} == {
        k[1]: v[0] for k, v in history.registers.items()
    }
    assert any(v[0] > 0 for v in history.registers.values())
    for evse in spec.evses:  # the simulated meter starts from those registers
        assert EvseState(evse).import_wh == evse.initial_import_wh

    rules = SettlementRules(baseline_method="x_of_y")
    series, findings = prepare_meter_data(
        [h.reading for h in history.readings], {"CS1": station_address(sc.seed, "CS1")}, rules
    )
    assert findings == []  # every signature verifies against the station's meter key
    afternoon = next(s for s in all_stays if s.ev.id == "ev0")  # 13:00-17:00
    isp_starts = [sc.at("14:00") + k * 900 for k in range(4)]
    got, baseline_findings = compute_baseline(
        isp_starts=isp_starts,
        activation_ts=isp_starts[0],
        portfolio=[series[(afternoon.station, afternoon.evse)]],
        nominated_w=None,
        rules=rules,
        subject="emsp@cp",
    )
    horizon = Horizon(start_unix=start, n_isps=96)
    frame = build_frame(agent_ev(sc, grid, afternoon), horizon, FleetPolicy())
    expected, _ = baseline(frame, horizon)
    want = {ts: expected[(ts - start) // 900] for ts in isp_starts}
    assert baseline_findings == []
    assert got == want and all(w > 0 for w in want.values())
