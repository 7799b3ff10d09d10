"""The HiGHS backend reports where each component's time went (issue 18: profile first), without
tying the solution to the clock: one entry per component, stages that ran in order, incumbent
gaps that only shrink from the dive to the RINS, and the same proving stages on every run."""

from __future__ import annotations

import numpy as np

from clearing.model import build_model, components
from clearing.prepare import prepare
from clearing.solvers.highs import solve_highspy
from clearing.solvers.highs_api import highs_work_limits
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle


def test_every_component_reports_its_stages_and_the_largest_runs_all_three() -> None:
    m = build_model(prepare(validate_bundle(generate_session(600, 5))))
    out = solve_highspy(m, limits=highs_work_limits(120), mip_gap_ppm=1_000)
    parts = components(m)
    assert [p.columns for p in out.parts] == [len(c) for c in parts]
    assert [p.binaries for p in out.parts] == [int(m.integer[c].sum()) for c in parts]
    largest = max(out.parts, key=lambda p: p.binaries)
    assert largest.dive_s > 0 and largest.dive_gap_over_lp is not None
    assert largest.dive_gap_over_lp >= -1e-12  # no integral point beats the LP bound
    if largest.lns_gap_over_lp is not None:  # RINS ran: it never returns worse than its start
        assert largest.lns_s > 0 and largest.lns_gap_over_lp <= largest.dive_gap_over_lp
    assert out.status == "optimal"
    assert all(p.proven_by in ("dive", "lns", "mip") for p in out.parts)
    # a stage after the one that proved the gap never runs
    for p in out.parts:
        if p.proven_by == "dive":
            assert p.lns_s == 0.0 and p.mip_s == 0.0 and p.lns_gap_over_lp is None
        if p.proven_by == "lns":
            assert p.mip_s == 0.0


def test_two_runs_prove_at_the_same_stages_with_the_same_solution() -> None:
    m = build_model(prepare(validate_bundle(generate_session(300, 2))))
    a = solve_highspy(m, limits=highs_work_limits(120), mip_gap_ppm=1_000)
    b = solve_highspy(m, limits=highs_work_limits(120), mip_gap_ppm=1_000)
    assert np.array_equal(np.asarray(a.activation), np.asarray(b.activation))
    assert [p.proven_by for p in a.parts] == [p.proven_by for p in b.parts]
