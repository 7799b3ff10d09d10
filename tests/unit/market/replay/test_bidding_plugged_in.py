"""A later session (intraday) plans the EVs already plugged in from the charger's SoC, not from
the SoC the user announced on arrival hours earlier."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from test_scenario import MINIMAL

from adapters.ocpp.simulator.ev import EvModel
from market.replay.bidding import _plugged_in_now
from market.replay.scenario import parse_scenario
from market.replay.simclock import StepClock
from market.replay.world import stays


def _ctx(*, stations_at: int | None, stored_pct: float = 90.0) -> tuple[Any, Any]:
    sc = parse_scenario(MINIMAL)  # ev1: 60 kWh, 11 kW, plugged 08:00-17:00 at 40 %
    (stay,) = stays(sc)
    model = EvModel(
        battery_wh=60000,
        soc_pct=stored_pct,
        max_charge_w=11000,
        max_discharge_w=11000,
        arrival_unix=stay.arrival,
        departure_unix=stay.departure,
    )
    fleet = {
        "CS1": SimpleNamespace(evses={stay.evse: SimpleNamespace(spec=SimpleNamespace(ev=model))})
    }
    return SimpleNamespace(
        scenario=sc,
        grid=SimpleNamespace(station_point={"CS1": "cp"}, station_bus={"CS1": 1}),
        fleet=None if stations_at is None else fleet,
        clock=None if stations_at is None else StepClock(stations_at),
        stays=[stay],
    ), stay


def test_first_session_uses_the_announced_arrival_soc() -> None:
    ctx, stay = _ctx(stations_at=None)
    assert _plugged_in_now(ctx, stay, ctx.scenario.at("12:00")).soc_wh == 24000


def test_an_ev_plugged_in_earlier_is_planned_from_its_charger_soc() -> None:
    ctx, stay = _ctx(stations_at=_at(10, 0), stored_pct=50.0)
    # 30 000 Wh now, plus 30 min of uncontrolled charging at 11 kW before 10:30
    ev = _plugged_in_now(ctx, stay, ctx.scenario.at("10:30"))
    assert ev.soc_wh == 30000 + 5500
    assert ev.arrival_unix == stay.arrival


def test_the_estimate_never_exceeds_the_battery() -> None:
    ctx, stay = _ctx(stations_at=_at(10, 0), stored_pct=95.0)
    assert _plugged_in_now(ctx, stay, ctx.scenario.at("13:00")).soc_wh == 60000


def test_an_ev_arriving_after_the_stations_time_keeps_its_announced_soc() -> None:
    ctx, stay = _ctx(stations_at=_at(7, 0), stored_pct=95.0)
    assert _plugged_in_now(ctx, stay, ctx.scenario.at("09:00")).soc_wh == 24000


def _at(hour: int, minute: int) -> int:
    return parse_scenario(MINIMAL).at(f"{hour:02d}:{minute:02d}")
