"""The EV model: limits, SoC bounds, reserve and efficiency."""

from __future__ import annotations

import pytest

from adapters.ocpp.simulator.ev import EvModel


def make(**kw) -> EvModel:
    args = {
        "battery_wh": 40_000,
        "soc_pct": 50,
        "max_charge_w": 11_000,
        "max_discharge_w": 7_000,
        "arrival_unix": 0,
        "departure_unix": 3600,
        "round_trip_efficiency": 0.81,
        "reserve_soc_pct": 40,
        "target_soc_pct": 80,
    }
    args.update(kw)
    return EvModel(**args)


def test_setpoint_clipped_to_ev_power_limits() -> None:
    assert make().run("setpoint", 20_000, 60) == [(11_000, 60)]
    assert make().run("setpoint", -20_000, 60) == [(-7_000, 60)]


def test_discharge_stops_at_reserve_never_below() -> None:
    ev = make(soc_pct=41)  # 400 Wh above the 40 % reserve
    pieces = ev.run("setpoint", -7_000, 3600)
    assert pieces[0][0] == -7_000 and pieces[-1] == (0, 3600 - pieces[0][1])
    assert ev.stored_wh >= 0.40 * 40_000
    # 400 Wh of battery at 90 % one-way efficiency: ~360 Wh at the meter (~185 s at 7 kW).
    assert 180 <= pieces[0][1] <= 186
    assert ev.run("setpoint", -7_000, 60) == [(0, 60)]


def test_unmanaged_charging_stops_at_target_setpoint_may_fill() -> None:
    ev = make(soc_pct=79.9)
    pieces = ev.run("default", 0, 3600)
    assert pieces[-1][0] == 0 and ev.soc == 80
    assert ev.run("setpoint", 5_000, 60) == [(5_000, 60)]  # central setpoint may go above


def test_round_trip_efficiency_loses_energy() -> None:
    ev = make()
    start = ev.stored_wh
    ev.run("setpoint", 3_600, 1000)  # 1000 Wh at the meter
    ev.run("setpoint", -3_600, 1000)  # 1000 Wh back out
    assert start - ev.stored_wh == pytest.approx(1000 * (1 / 0.9 - 0.9), rel=1e-6)


def test_limit_mode_caps_charging() -> None:
    assert make().run("limit", 4_000, 10) == [(4_000, 10)]
    assert make().run("limit", -4_000, 10) == [(0, 10)]


@pytest.mark.parametrize(
    ("field", "value"),
    [("battery_wh", 0), ("soc_pct", 101), ("round_trip_efficiency", 0), ("departure_unix", 0)],
)
def test_invalid_parameters_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        make(**{field: value})
