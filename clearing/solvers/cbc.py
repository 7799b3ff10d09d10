"""The PuLP backend: CBC (the fallback when HiGHS fails) or HiGHS through PuLP (benchmarks).

:func:`solve_pulp` rebuilds the identical model as a PuLP problem; CBC runs as a subprocess
writing its log to a temporary file, from which its version and bound are read.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import numpy as np

from clearing.errors import SolverFailed
from clearing.model import ModelArrays, SolveOutcome, solve_outcome
from clearing.solvers.highs_api import highs_version, new_highs
from clearing.units import PPM

__all__ = ["build_pulp", "solve_pulp"]


def _log_value(log: str, label: str) -> str | None:
    """The token after ``label`` on its last occurrence in a CBC log."""
    for line in reversed(log.splitlines()):
        if line.strip().startswith(label):
            parts = line.strip()[len(label) :].split()
            return parts[0] if parts else None
    return None


def build_pulp(m: ModelArrays):  # type: ignore[no-untyped-def]
    """The same model as a PuLP problem (variables x0..xn, constraints r0..rm)."""
    import pulp

    prob = pulp.LpProblem("clearing", pulp.LpMinimize)
    xs = [
        prob.add_variable(
            f"x{j}",
            float(m.col_lower[j]),
            float(m.col_upper[j]),
            cat=pulp.LpInteger if m.integer[j] else pulp.LpContinuous,
        )
        for j in range(m.n_cols)
    ]
    prob.setObjective(
        pulp.LpAffineExpression([(xs[j], float(m.col_cost[j])) for j in range(m.n_cols)])
    )
    order = np.argsort(m.rows, kind="stable")
    rows = m.rows[order]
    cols = m.cols[order]
    vals = m.vals[order]
    bounds = np.searchsorted(rows, np.arange(len(m.row_lower) + 1))
    for i in range(len(m.row_lower)):
        s, e = bounds[i], bounds[i + 1]
        expr = pulp.LpAffineExpression([(xs[int(cols[q])], float(vals[q])) for q in range(s, e)])
        prob.addConstraint(expr <= float(m.row_upper[i]), name=f"r{i}")
    return prob, xs


def solve_pulp(
    m: ModelArrays, *, solver: str, time_limit_s: int, mip_gap_ppm: int
) -> tuple[SolveOutcome, float]:
    """Build with PuLP, solve with CBC (``solver="cbc"``) or HiGHS; returns (outcome, build_s)."""
    import pulp

    t0 = time.perf_counter()
    prob, xs = build_pulp(m)
    build_s = time.perf_counter() - t0
    gap_rel = mip_gap_ppm / PPM
    with tempfile.TemporaryDirectory(prefix="flexmarket-cbc-") as tmp:
        log_path = os.path.join(tmp, "cbc.log")
        if solver == "cbc":
            with warnings.catch_warnings():  # PuLP 3.3 deprecates the bundled-CBC class name
                warnings.simplefilter("ignore", DeprecationWarning)
                # CBC 2.10.3's preprocessing wrongly declares some of these models infeasible
                cmd = pulp.PULP_CBC_CMD(
                    msg=False,
                    timeLimit=time_limit_s,
                    gapRel=gap_rel,
                    threads=1,
                    options=["preprocess off"],
                    logPath=log_path,
                )
        else:
            new_highs()  # banner, if any, to stderr
            cmd = pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=gap_rel, threads=1)
        t1 = time.perf_counter()
        prob.solve(cmd)
        solve_s = time.perf_counter() - t1
        log = ""
        if solver == "cbc" and os.path.exists(log_path):
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                log = fh.read()
    if prob.sol_status == pulp.LpSolutionOptimal:
        status = "optimal"
    elif prob.sol_status == pulp.LpSolutionIntegerFeasible:
        status = "time_limit"
    else:
        raise SolverFailed(f"{solver} via PuLP: {pulp.LpStatus[prob.status]}, no usable solution")
    x = np.asarray([v.varValue or 0.0 for v in xs])
    obj = float(m.col_cost @ x)
    gap: float | None
    if solver == "cbc":
        version = "cbc-" + (_log_value(log, "Version:") or "unknown")
        bound = _log_value(log, "Lower bound:")
        gap = max(0.0, obj - float(bound)) / max(abs(obj), 1e-9) if bound else None
    else:
        version = highs_version()
        gap = gap_rel if status == "optimal" else None  # PuLP does not expose HiGHS' bound
    return solve_outcome(m, x, status, obj, gap, solver, version, solve_s), build_s
