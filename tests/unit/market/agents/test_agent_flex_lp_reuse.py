"""The envelope's reused, warm-started LP gives the same whole watts as a fresh PuLP solve per
ISP and direction (what the envelope did before), on random fleets and on a 200-EV one."""

from __future__ import annotations

import random

import pulp
from fleet_builders import ISP, T0
from hypothesis import HealthCheck, given, settings
from test_agent_flex_lp_props import CP, H, _flexible_portfolio, fleets, policies

from market.agents.fleet import EV, FleetPolicy, Horizon, UserPreferences, build_portfolio
from market.agents.flex_lp import _build, _floor_w, _solve, _value, envelope


def _envelope_by_fresh_pulp_solves(frames, horizon, isps):
    """The envelope as PuLP computes it: a new HiGHS model and a cold solve per objective."""
    model = _build(frames, horizon, "envelope", soft=False)
    up, down = {}, {}
    for k in isps:
        dev = model.deviation(k)
        for sign, out in ((1, up), (-1, down)):
            model.prob.setObjective(sign * dev)
            model.prob.sense = pulp.LpMaximize
            _solve(model)
            out[k] = _floor_w(sign * _value(dev))
    return up, down


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=fleets(), policy=policies)
def test_reused_lp_envelope_equals_fresh_pulp_solves(evs, policy) -> None:
    _, frames = _flexible_portfolio(evs, policy)
    isps = list(range(H.n_isps))
    env = envelope(frames, H, isps, CP)
    assert (env.up_w, env.down_w) == _envelope_by_fresh_pulp_solves(frames, H, isps)


def test_reused_lp_envelope_equals_fresh_pulp_solves_on_200_evs_over_96_isps() -> None:
    rng = random.Random(18)
    horizon = Horizon(start_unix=T0, n_isps=96)
    evs = []
    for i in range(200):
        cap = rng.choice([40_000, 60_000, 77_000])
        arrive = rng.randrange(0, 60)
        leave = rng.randrange(arrive + 8, 110)
        pmax = rng.choice([7_400, 11_000, 22_000])
        soc = rng.randrange(0, cap // 2)
        reach = min(cap, soc + pmax * (leave - arrive) * ISP // 3600)
        evs.append(
            EV(
                ev_id=f"ev{i:03d}",
                station_id=f"cs{i:03d}",
                evse_id=1,
                congestion_point=CP,
                capacity_wh=cap,
                soc_wh=soc,
                arrival_unix=T0 + arrive * ISP,
                max_charge_w=pmax,
                max_discharge_w=rng.choice([0, 7_400, 11_000]),
                preferences=UserPreferences(T0 + leave * ISP, rng.randrange(reach // 2, reach)),
            )
        )
    frames = build_portfolio(evs, horizon, FleetPolicy()).at(CP, flexible_only=True)
    assert len(frames) > 150
    isps = list(range(40, 72))  # the envelope of a request: its ISPs only
    env = envelope(frames, horizon, isps, CP)
    assert (env.up_w, env.down_w) == _envelope_by_fresh_pulp_solves(frames, horizon, isps)
    assert any(env.up_w.values()) and any(env.down_w.values())
