"""From the power flow to charger schedules: the DSO agent forecasts a SimBench winter day,
two FSP agents send prognoses and offers, the real clearing engine clears, the orders are
disaggregated to EVSE schedules, and the DSO's re-run shows the overload gone."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from adapters.grid.congestion import build_congestion_points
from adapters.grid.forecast import GridForecaster
from adapters.grid.model import load_grid
from clearing.bundle import CongestionPoint, InputBundle
from clearing.engine import clear
from market.agents.common import MarketSession
from market.agents.dso import DsoAgent, DsoConfig
from market.agents.fleet import EV, FleetPolicy, UserPreferences
from market.agents.fsp import FspAgent, PricingConfig

pytestmark = pytest.mark.integration

START = int(dt.datetime(2026, 1, 22, 11, tzinfo=dt.UTC).timestamp())
SESSION = MarketSession(
    session_id=str(uuid.UUID(int=11)), start_unix=START, n_isps=12, gate_closure_unix=START - 900
)


def _fleet(prefix: str, cp: str, buses, n: int, charge_w: int, price: int) -> list[EV]:
    return [
        EV(
            ev_id=f"{prefix}{i}",
            station_id=f"{prefix}-cs{i}",
            evse_id=1,
            congestion_point=cp,
            capacity_wh=60_000,
            soc_wh=30_000 + 2_000 * i,
            arrival_unix=START - 3600,
            max_charge_w=charge_w,
            max_discharge_w=charge_w,
            bus=buses[i % len(buses)],
            preferences=UserPreferences(
                departure_unix=START + 9 * 3600,
                min_departure_soc_wh=45_000,
                min_price_per_mwh=price,
            ),
        )
        for i in range(n)
    ]


def test_grid_request_to_cleared_orders_to_evse_schedules():
    grid = load_grid()
    points = build_congestion_points(grid.net, grid.name)
    feeder = next(p for p in points if p.kind == "feeder" and p.name.endswith("Line 34"))
    ev_buses = feeder.buses[:4]
    fleet_a = _fleet("a", feeder.cp_id, ev_buses, 5, 11_000, 20_000_000)
    fleet_b = _fleet("b", feeder.cp_id, ev_buses, 5, 7_400, 40_000_000)
    stuck = EV(
        ev_id="b-stuck",
        station_id="b-cs9",
        evse_id=1,
        congestion_point=feeder.cp_id,
        capacity_wh=40_000,
        soc_wh=2_000,
        arrival_unix=START - 3600,
        max_charge_w=3_700,
        max_discharge_w=0,
        preferences=UserPreferences(START + 3600, 39_000),
    )
    fsp_a = FspAgent(
        fsp_address="0x" + "a1" * 20, session=SESSION, evs=fleet_a, pricing=PricingConfig()
    )
    fsp_b = FspAgent(
        fsp_address="0x" + "b2" * 20,
        session=SESSION,
        evs=[*fleet_b, stuck],
        policy=FleetPolicy(booking_buffer_wh=1_000),
        pricing=PricingConfig(margin_per_mwh=30_000_000),
    )
    assert [(i.ev_id, i.constraint) for i in fsp_b.preference_issues] == [
        ("b-stuck", "min_departure_soc_wh")
    ]

    forecaster = GridForecaster(
        grid, date=dt.date(2016, 1, 22), load_scale=3.0, points=points, flex_buses=ev_buses
    )
    dso = DsoAgent(
        forecaster=forecaster, session=SESSION, config=DsoConfig(max_price_per_mwh=400_000_000)
    )
    prognoses = fsp_a.prognoses() + fsp_b.prognoses()
    ev_load = dso.ev_load_from_prognoses(prognoses)
    requests = dso.requests(ev_load)
    assert [(r.congestion_point, r.direction) for r in requests] == [(feeder.cp_id, "UP")]
    need = {i.isp_index: i.min_power_w for i in requests[0].isps}
    assert len(need) >= 10  # the EVs' baseline charging makes most of the session congested

    offers = fsp_a.offers(requests) + fsp_b.offers(requests)
    assert {o.fsp for o in offers} == {fsp_a.fsp_address, fsp_b.fsp_address}
    bundle = InputBundle(
        session_id=SESSION.session_id,
        isp_count=SESSION.n_isps,
        start_time=SESSION.start_unix,
        congestion_points=tuple(CongestionPoint(code=p.cp_id, parent=p.parent_id) for p in points),
        requests=tuple(requests),
        prognoses=tuple(prognoses),
        offers=tuple(offers),
    )
    result = clear(bundle)
    assert result.orders

    plans = {fsp.fsp_address: fsp.dispatch(result.orders) for fsp in (fsp_a, fsp_b)}
    for fsp, plan in plans.items():
        assert plan.shortfalls == {} and plan.misses == []
        mine = [o for o in result.orders if o.fsp == fsp]
        ordered: dict[int, int] = {}
        for o in mine:
            for i in o.isps:
                ordered[i.isp_index] = ordered.get(i.isp_index, 0) + i.power_w
        if mine:
            delivered = plan.by_point[feeder.cp_id].delivered_w
            assert all(abs(delivered[k] - w) <= 1 for k, w in ordered.items())
        for periods in plan.schedules.values():
            assert len(periods) == SESSION.n_isps
    assert ("b-cs9", 1) in plans[fsp_b.fsp_address].schedules  # stuck EV charges flat out
    assert sum(inc.amount_units for p in plans.values() for inc in p.incentives) > 0

    rows = dso.report(dso.delivered_from_orders(result.orders), ev_load)
    at_feeder = [r for r in rows if r.cp_id == feeder.cp_id]
    procured = dso.delivered_from_orders(result.orders)[feeder.cp_id]
    for r in at_feeder:
        assert r.violations_before > 0
        if procured.get(r.isp, 0) >= need[r.isp - dso.first_isp]:
            assert r.violations_after == 0, r
    covered = sum(1 for k, w in need.items() if procured.get(k + dso.first_isp, 0) >= w)
    assert covered == len(need)
