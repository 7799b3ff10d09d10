"""The widened RINS (issue 18): its neighbourhood holds the plain one plus every binary sharing a
row with a disagreeing one, and what it returns is feasible, integral, never worse than its
start and the same on every run."""

from __future__ import annotations

import numpy as np

from clearing.model import ModelArrays, build_model, components, submodel
from clearing.prepare import prepare
from clearing.solvers.heuristics import _widened, lp_dive, rins
from clearing.solvers.highs_api import Deadline, highs_work_limits
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle


def _part() -> ModelArrays:
    m = build_model(prepare(validate_bundle(generate_session(600, 5))))
    return submodel(m, components(m)[0])


def test_widened_neighbourhood_adds_the_row_neighbours() -> None:
    m = _part()
    idx = np.nonzero(m.integer)[0]
    differ = np.zeros(idx.size, dtype=bool)
    differ[0] = True
    wide = _widened(m, idx, differ)
    assert wide[0]
    rows = set(m.rows[m.cols == idx[0]].tolist())
    expected = {int(c) for c in m.cols[np.isin(m.rows, list(rows))]} & set(idx.tolist())
    assert set(idx[wide].tolist()) == expected
    assert len(expected) > 1


def test_widened_rins_is_feasible_no_worse_and_deterministic() -> None:
    m = _part()
    limits = highs_work_limits(120)
    start, x_lp, _ = lp_dive(m, limits, Deadline.after(120))
    assert start is not None and x_lp is not None
    runs = [rins(m, start, x_lp, limits, Deadline.after(120), 0.0005, widen=True) for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])
    x = runs[0]
    assert float(m.col_cost @ x) <= float(m.col_cost @ start) + 1e-9
    ints = np.nonzero(m.integer)[0]
    assert np.allclose(x[ints], np.round(x[ints]), atol=1e-6)
    assert np.all(x >= m.col_lower - 1e-7) and np.all(x <= m.col_upper + 1e-7)
    act = np.zeros(len(m.row_lower))
    np.add.at(act, m.rows, m.vals * x[m.cols])
    assert np.all(act <= m.row_upper + 1e-6) and np.all(act >= m.row_lower - 1e-6)
