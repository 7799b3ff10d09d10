"""RINS widened by reduced cost (issue 18): its neighbourhood holds the plain one, every column
the LP prices at zero and the requested share of the nearest others, and what it returns is
feasible, integral, never worse than its start and the same on every run."""

from __future__ import annotations

import numpy as np

from clearing.model import ModelArrays, build_model, components, submodel
from clearing.prepare import prepare
from clearing.solvers.heuristics import _near_zero_reduced_cost, lp_dive, rins
from clearing.solvers.highs_api import WORK_LIMITS, Deadline, highs_work_limits
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle


def _part() -> ModelArrays:
    m = build_model(prepare(validate_bundle(generate_session(600, 5))))
    return submodel(m, components(m)[0])


def _activation_rc(m: ModelArrays, idx: np.ndarray, rc: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray([rc[m.semi[c][0]] if c in m.semi else rc[c] for c in idx]))


def test_the_neighbourhood_is_the_zero_priced_columns_plus_the_nearest_share() -> None:
    m = _part()
    _, _, rc = lp_dive(m, highs_work_limits(120), Deadline.after(120))
    assert rc is not None
    idx = np.nonzero(m.integer)[0]
    rc_act = _activation_rc(m, idx, rc)
    zero = rc_act <= 1e-9
    near = _near_zero_reduced_cost(m, idx, rc, 100_000, 1_000)
    n = idx.size * 100_000 // 1_000_000
    assert zero.any() and (~zero).sum() > n  # the instance exercises both halves
    assert near[zero].all()
    assert int(near.sum()) == int(zero.sum()) + n
    # the priced columns freed are the nearest ones: none left out is nearer than one taken
    assert rc_act[near & ~zero].max() <= rc_act[~near].min()
    assert not _near_zero_reduced_cost(m, idx, rc, 0, 1_000)[~zero].any()
    capped = _near_zero_reduced_cost(m, idx, rc, 100_000, 3)
    assert int(capped.sum()) == int(zero.sum()) + 3 and (near | ~capped).all()


def test_widened_rins_is_feasible_no_worse_and_deterministic() -> None:
    m = _part()
    limits = highs_work_limits(120)
    start, x_lp, rc = lp_dive(m, limits, Deadline.after(120))
    assert start is not None and x_lp is not None and rc is not None
    share = WORK_LIMITS["rc_neighbourhood_ppm"]
    runs = [
        rins(
            m,
            start,
            x_lp,
            limits,
            Deadline.after(120),
            0.0005,
            reduced_costs=rc,
            rc_share_ppm=share,
        )
        for _ in range(2)
    ]
    assert np.array_equal(runs[0], runs[1])
    x = runs[0]
    assert float(m.col_cost @ x) <= float(m.col_cost @ start) + 1e-9
    ints = np.nonzero(m.integer)[0]
    assert np.allclose(x[ints], np.round(x[ints]), atol=1e-6)
    assert np.all(x >= m.col_lower - 1e-7) and np.all(x <= m.col_upper + 1e-7)
    act = np.zeros(len(m.row_lower))
    np.add.at(act, m.rows, m.vals * x[m.cols])
    assert np.all(act <= m.row_upper + 1e-6) and np.all(act >= m.row_lower - 1e-6)
