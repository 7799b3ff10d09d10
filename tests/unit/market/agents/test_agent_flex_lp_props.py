"""Property tests on random small fleets: schedules respect every EV limit, orders from the
envelope are met to the watt, and the envelope/offers never exceed what the LP proves."""

from __future__ import annotations

from fleet_builders import ISP, T0
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from market.agents.fleet import EV, Booking, FleetPolicy, Horizon, UserPreferences, build_portfolio
from market.agents.flex_lp import best_block, disaggregate, envelope

N = 12
H = Horizon(start_unix=T0, n_isps=N)
CP = "ean.871685000000000001"
SOC_TOL_WH = 1.0


@st.composite
def fleets(draw):
    evs = []
    for i in range(draw(st.integers(1, 4))):
        cap = draw(st.sampled_from([20_000, 40_000, 60_000]))
        soc = draw(st.integers(0, cap * 3 // 4))
        arrive = draw(st.integers(0, 4))
        leave = draw(st.integers(arrive + 2, N + 8))
        pmax = draw(st.sampled_from([3_700, 7_400, 11_000]))
        pdis = draw(st.sampled_from([0, 3_700, 7_400, 11_000]))
        # departure SoC reachable from arrival at full power, so the EV stays flexible
        reach = min(cap, soc + pmax * (leave - arrive) * ISP // 3600)
        need = draw(st.integers(0, reach))
        bookings = ()
        if draw(st.booleans()) and leave - arrive >= 6:
            start = draw(st.integers(arrive + 3, leave - 3))
            end = draw(st.integers(start + 1, leave - 1))
            b_reach = min(cap, soc + pmax * (start - arrive) * ISP // 3600)
            bookings = (
                Booking(
                    f"b{i}",
                    T0 + start * ISP,
                    T0 + end * ISP,
                    soc_wh=draw(st.integers(0, b_reach)),
                    return_soc_wh=draw(st.integers(0, cap // 2)),
                ),
            )
            need = min(need, cap // 2)  # reachable again after the trip only if low
            need = min(need, cap // 2 + pmax * max(0, leave - end) * ISP // 3600)
        evs.append(
            EV(
                ev_id=f"ev{i}",
                station_id=f"cs{i}",
                evse_id=1,
                congestion_point=CP,
                capacity_wh=cap,
                soc_wh=soc,
                arrival_unix=T0 + arrive * ISP,
                max_charge_w=pmax,
                max_discharge_w=pdis,
                preferences=UserPreferences(T0 + leave * ISP, need),
                bookings=bookings,
            )
        )
    return evs


policies = st.builds(
    FleetPolicy,
    booking_buffer_wh=st.sampled_from([0, 1_000]),
    v2g_lockout_s=st.sampled_from([0, 1_800]),
    allow_v2g=st.sampled_from([True, True, False]),
)


def _flexible_portfolio(evs, policy=None):
    pf = build_portfolio(evs, H, policy or FleetPolicy())
    return pf, pf.at(CP, flexible_only=True)


def _assert_schedule_respects_limits(frames, result):
    for f in frames:
        powers = result.power_w[f.ev.ev_id]
        soc = result.soc_wh[f.ev.ev_id]
        for k, p in enumerate(powers):
            assert isinstance(p, int)
            if not f.plugged[k]:
                assert p == 0, (f.ev.ev_id, k, p)
            assert f.p_min[k] - 1e-9 <= p <= f.p_max[k] + 1e-9, (f.ev.ev_id, k, p)
            if k + 1 not in f.resets:
                assert soc[k + 1] <= f.s_max + SOC_TOL_WH
                assert soc[k + 1] >= min(f.s_min, f.baseline_soc[k + 1]) - SOC_TOL_WH
        for req in f.requirements:
            assert soc[req.index] >= req.soc_wh - SOC_TOL_WH, (f.ev.ev_id, req, soc)
    assert result.misses == []


common = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@common
@given(
    evs=fleets(),
    window=st.tuples(st.integers(2, 7), st.integers(1, 3)),
    up=st.sampled_from([True, True, False]),
    shape=st.sampled_from(["flat", "shaped"]),
    ppm=st.integers(1, 1_000_000),
    policy=policies,
)
def test_orders_from_the_envelope_are_met_to_the_watt(evs, window, up, shape, ppm, policy):
    _pf, frames = _flexible_portfolio(evs, policy)
    isps = list(range(window[0], window[0] + window[1]))
    env = envelope(frames, H, isps)
    direction = 1 if up else -1
    env_dir = env.up_w if up else env.down_w
    block = best_block(frames, H, direction, shape, dict(env_dir))
    event(f"flexible EVs: {len(frames)}, block: {block is not None}")
    if block is None:
        return
    for k, w in block.power_w.items():  # an option never exceeds the envelope
        assert 0 <= w <= env_dir[k]
    order = {k: direction * (w * ppm // 1_000_000) for k, w in block.power_w.items()}
    result = disaggregate(frames, H, order)
    _assert_schedule_respects_limits(frames, result)
    for k, target in order.items():
        assert abs(result.delivered_w[k] - target) <= 1, (k, target, result.delivered_w[k])
    assert result.shortfalls == []
    schedules = result.schedules()
    assert set(schedules) == {f.ev.evse for f in frames}
    for periods in schedules.values():
        assert [start for start, _, _ in periods] == [H.isp_start(k) for k in range(N)]


@common
@given(evs=fleets(), isp=st.integers(2, 8), up=st.sampled_from([True, True, False]))
def test_envelope_is_exactly_the_lp_maximum(evs, isp, up):
    _pf, frames = _flexible_portfolio(evs)
    env = envelope(frames, H, [isp])
    direction = 1 if up else -1
    top = (env.up_w if up else env.down_w)[isp]
    event(f"envelope > 0: {top > 0}")
    at_top = disaggregate(frames, H, {isp: direction * top})
    assert abs(at_top.delivered_w[isp] - direction * top) <= 1
    _assert_schedule_respects_limits(frames, at_top)
    above = disaggregate(frames, H, {isp: direction * (top + 100)})
    assert direction * above.delivered_w[isp] <= top + 1  # nothing beyond the envelope
    assert above.shortfalls and above.shortfalls[0].isp == isp
    _assert_schedule_respects_limits(frames, above)


@common
@given(
    evs=fleets(),
    order=st.dictionaries(st.integers(0, N - 1), st.integers(-60_000, 60_000), max_size=4),
    policy=policies,
)
def test_any_order_keeps_every_ev_inside_its_limits(evs, order, policy):
    _pf, frames = _flexible_portfolio(evs, policy)
    result = disaggregate(frames, H, order)
    _assert_schedule_respects_limits(frames, result)
    event(f"shortfalls: {bool(result.shortfalls)}")
    for s in result.shortfalls:
        assert abs(s.delivered_w) < abs(s.ordered_w) or (s.delivered_w * s.ordered_w <= 0)
