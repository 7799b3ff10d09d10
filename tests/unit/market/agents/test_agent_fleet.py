"""EV portfolio model: baseline, bookings, and infeasible preferences named before bidding."""

from __future__ import annotations

import pytest
from fleet_builders import ISP, T0, ev

from market.agents.fleet import Booking, FleetError, FleetPolicy, Horizon, build_portfolio

H = Horizon(start_unix=T0, n_isps=32)


def test_baseline_charges_at_full_power_on_arrival_until_target():
    car = ev(soc_wh=50_000, arrival=T0 + 2 * ISP)
    pf = build_portfolio([car], H, FleetPolicy())
    base = pf.frames["ev1"].baseline_w
    assert base[:2] == [0, 0]
    assert base[2:5] == [11_000, 11_000, 11_000]  # 2 750 Wh per ISP
    assert base[5] == 1_750 * 4  # last 1 750 Wh up to the 60 000 Wh target
    assert all(p == 0 for p in base[6:])
    assert pf.frames["ev1"].baseline_soc[-1] == 60_000
    assert pf.baseline_w(car.congestion_point) == base


def test_unreachable_departure_soc_is_named_and_the_ev_is_not_flexible():
    bad = ev("late", soc_wh=5_000, departure=T0 + 3600, min_departure_soc_wh=50_000)
    good = ev("ok")
    pf = build_portfolio([bad, good], H, FleetPolicy())
    assert [(i.ev_id, i.constraint) for i in pf.issues] == [("late", "min_departure_soc_wh")]
    assert "unreachable even at full charge" in pf.issues[0].detail
    assert pf.flexible_ids == ["ok"]
    assert [f.ev.ev_id for f in pf.at(good.congestion_point, flexible_only=True)] == ["ok"]


def test_capacity_opt_out_and_booking_issues_are_named():
    over = ev("big", min_departure_soc_wh=70_000)
    out = ev("out", opt_in=False)
    trip = Booking("b1", T0 + 3600, T0 + 3 * 3600, soc_wh=58_000, return_soc_wh=20_000)
    booked = ev("fleet1", soc_wh=10_000, bookings=(trip,))
    pf = build_portfolio([over, out, booked], H, FleetPolicy())
    named = {(i.ev_id, i.constraint) for i in pf.issues}
    assert ("big", "min_departure_soc_wh") in named
    assert ("out", "opt_in") in named
    assert ("fleet1", "booking:b1.soc_wh") in named
    assert pf.flexible_ids == []


def test_booking_makes_the_ev_unavailable_and_resets_soc_on_return():
    trip = Booking("b1", T0 + 4 * ISP, T0 + 8 * ISP, soc_wh=30_000, return_soc_wh=15_000)
    car = ev(soc_wh=25_000, bookings=(trip,), min_departure_soc_wh=30_000)
    pf = build_portfolio([car], H, FleetPolicy(booking_buffer_wh=2_000, v2g_lockout_s=1800))
    f = pf.frames["ev1"]
    assert f.plugged[:4] == [True] * 4 and f.plugged[4:8] == [False] * 4 and f.plugged[8]
    assert f.resets == {8: 15_000}
    assert any(
        r.label == "booking:b1" and r.soc_wh == 32_000 and r.index == 4 for r in f.requirements
    )
    assert f.p_min[:2] == [-11_000, -11_000] and f.p_min[2:4] == [0, 0]  # V2G lockout
    assert f.baseline_soc[4] >= 32_000 and f.baseline_soc[8] == 15_000
    assert pf.issues == []


def test_departure_after_the_horizon_binds_only_what_cannot_be_charged_later():
    car = ev(departure=H.end_unix + 3600, min_departure_soc_wh=50_000)
    f = build_portfolio([car], H, FleetPolicy()).frames["ev1"]
    assert [(r.index, r.soc_wh) for r in f.requirements] == [(32, 50_000 - 11_000)]


def test_malformed_evs_are_refused_with_the_field():
    with pytest.raises(FleetError, match="soc_wh"):
        ev(soc_wh=70_000)
    with pytest.raises(FleetError, match="max_charge_w"):
        ev(max_charge_w=-1)
    with pytest.raises(FleetError, match="appears twice"):
        build_portfolio([ev(), ev()], H, FleetPolicy())
    with pytest.raises(FleetError, match="n_isps"):
        Horizon(start_unix=T0, n_isps=0)
