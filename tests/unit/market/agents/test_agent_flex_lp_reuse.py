"""The LPs passed to HiGHS in one piece give what PuLP's own HiGHS solve gave: the envelope's
reused, warm-started LP the same whole watts as a fresh solve per ISP and direction, and the
one-shot solve of blocks and disaggregations the same values to the last bit, on random fleets
and on a 200-EV one."""

from __future__ import annotations

import random

import pulp
import pytest
from fleet_builders import ISP, T0
from hypothesis import HealthCheck, given, settings
from test_agent_flex_lp_props import CP, H, _flexible_portfolio, fleets, policies

from market.agents import flex_lp
from market.agents.fleet import EV, FleetPolicy, Horizon, UserPreferences, build_portfolio
from market.agents.flex_lp import _build, _floor_w, _value, best_block, disaggregate, envelope


def _pulp_solve(model) -> None:
    """The solve as it was: PuLP builds the HiGHS model and reads the solution back."""
    status = model.prob.solve(pulp.HiGHS(msg=False))
    assert pulp.LpStatus[status] == "Optimal"


def _envelope_by_fresh_pulp_solves(frames, horizon, isps):
    """The envelope as PuLP computes it: a new HiGHS model and a cold solve per objective."""
    model = _build(frames, horizon, "envelope", soft=False)
    up, down = {}, {}
    for k in isps:
        dev = model.deviation(k)
        for sign, out in ((1, up), (-1, down)):
            model.prob.setObjective(sign * dev)
            model.prob.sense = pulp.LpMaximize
            _pulp_solve(model)
            out[k] = _floor_w(sign * _value(dev))
    return up, down


def _blocks_and_disaggregations(frames, horizon):
    """Every block shape in both directions, and the disaggregation of each block found."""
    out = []
    caps = dict.fromkeys(range(horizon.n_isps // 3, 2 * horizon.n_isps // 3), 20000)
    for direction in (1, -1):
        for shape in ("flat", "shaped"):
            block = best_block(frames, horizon, direction, shape, caps)
            out.append(block)
            if block is not None:
                order = {k: direction * w for k, w in block.power_w.items()}
                out.append(disaggregate(frames, horizon, order))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=fleets(), policy=policies)
def test_reused_lp_envelope_equals_fresh_pulp_solves(evs, policy) -> None:
    _, frames = _flexible_portfolio(evs, policy)
    isps = list(range(H.n_isps))
    env = envelope(frames, H, isps, CP)
    assert (env.up_w, env.down_w) == _envelope_by_fresh_pulp_solves(frames, H, isps)


def _fleet(n_evs, horizon):
    rng = random.Random(18)
    evs = []
    for i in range(n_evs):
        cap = rng.choice([40_000, 60_000, 77_000])
        arrive = rng.randrange(0, horizon.n_isps * 2 // 3)
        leave = rng.randrange(arrive + 8, horizon.n_isps + 14)
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
    assert len(frames) > n_evs * 3 // 4
    return frames


def test_reused_lp_envelope_equals_fresh_pulp_solves_on_200_evs_over_96_isps() -> None:
    horizon = Horizon(start_unix=T0, n_isps=96)
    frames = _fleet(200, horizon)
    isps = list(range(40, 52))  # the envelope of a request: its ISPs only
    env = envelope(frames, horizon, isps, CP)
    assert (env.up_w, env.down_w) == _envelope_by_fresh_pulp_solves(frames, horizon, isps)
    assert any(env.up_w.values()) and any(env.down_w.values())


def test_one_shot_solves_equal_pulps_to_the_bit_on_60_evs_over_48_isps() -> None:
    horizon = Horizon(start_unix=T0, n_isps=48)
    frames = _fleet(60, horizon)
    ours = _blocks_and_disaggregations(frames, horizon)
    assert sum(1 for x in ours if x is not None) >= 6  # blocks found and disaggregated
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flex_lp, "_solve", _pulp_solve)
        assert ours == _blocks_and_disaggregations(frames, horizon)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=fleets(), policy=policies)
def test_one_shot_solves_equal_pulps_to_the_bit(evs, policy) -> None:
    _, frames = _flexible_portfolio(evs, policy)
    ours = _blocks_and_disaggregations(frames, H)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flex_lp, "_solve", _pulp_solve)
        assert ours == _blocks_and_disaggregations(frames, H)
