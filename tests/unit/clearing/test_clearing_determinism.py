"""Deterministic clearing (issue 18): the orders are a function of the input bundle alone.

HiGHS stops on work limits, not on the clock, so clearing the same bundle beside a busy loop
spinning on every core gives the same bytes; the wall-clock limit is only a safety net, and
when it fires the result says ``unproven`` and carries the greedy orders (never a silently
different answer), which the auditor's recomputation reproduces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import clearing.solvers.highs_api as highs_api
from clearing.bundle import ResultBundle
from clearing.busy_load import busy_cores
from clearing.engine import clear, clear_run
from clearing.greedy import greedy
from clearing.prepare import prepare
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle
from clearing.verifier import verify


def test_same_bytes_beside_a_busy_loop() -> None:
    bundle = generate_session(400, 11, time_limit_s=600)
    quiet = clear(bundle).to_canonical()
    with busy_cores(max_s=120) as spinning:
        loaded = clear(bundle).to_canonical()
    assert spinning >= 1
    assert loaded == quiet


def test_limits_are_recorded() -> None:
    result = clear(generate_session(60, 2, time_limit_s=45))
    limits = result.solver.limits
    assert limits is not None
    assert limits.wall_clock_safety_s == 45 and limits.threads == 1
    assert limits.mip_max_nodes > 0 and limits.dive_rounds > 0
    assert result.to_canonical().count(b'"limits"') == 1


@pytest.fixture
def clock_always_late(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A safety-net clock that jumps an hour per reading: the net fires at the first check."""
    ticks = iter(range(0, 10**9, 3600))
    monkeypatch.setattr(highs_api, "_clock", lambda: float(next(ticks)))
    yield


@pytest.mark.usefixtures("clock_always_late")
def test_safety_net_marks_unproven_and_publishes_greedy() -> None:
    bundle = generate_session(200, 5)
    run = clear_run(bundle)
    result = run.result
    assert result.status == "unproven"
    assert result.solver.name == "highs"
    assert result.solver.fallback_reason is not None
    assert "safety net" in result.solver.fallback_reason
    assert result.solver.limits is not None
    assert result.mip_gap_ppm == -1
    g = greedy(prepare(validate_bundle(bundle))).evaluation
    assert [(o.order_id, o.activation_ppm) for o in result.orders] == [
        (o.order_id, o.activation_ppm) for o in g.orders
    ]
    assert result.welfare_units == g.welfare_units
    assert verify(bundle, result) == []  # the auditor recomputes the documented fallback


def test_a_normal_result_is_not_unproven() -> None:
    bundle = generate_session(200, 5)
    result = clear(bundle)
    assert result.status == "optimal"
    assert result.solver.fallback_reason is None
    assert verify(bundle, result) == []


def test_a_result_from_before_the_heuristics_revision_still_parses() -> None:
    """Published results stay readable: limits without the later fields are revision 1."""
    result = clear(generate_session(60, 2, time_limit_s=45))
    data = json.loads(result.to_canonical())
    later = ("wide_rins_gap_ppm", "heuristics_revision", "rc_neighbourhood_ppm")
    for key in (*later, "rc_neighbourhood_max_cols"):
        del data["solver"]["limits"][key]
    old = ResultBundle.model_validate_json(json.dumps(data))
    assert old.solver.limits is not None and old.solver.limits.heuristics_revision == 1
    assert old.solver.limits.rc_neighbourhood_ppm == 0
    assert result.solver.limits is not None and result.solver.limits.heuristics_revision == 3
