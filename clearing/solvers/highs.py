"""The HiGHS backend: highspy's array API, primal heuristics, thread pinning, the C banner.

:func:`solve_highspy` passes the model arrays to HiGHS directly (fast at 100 000 offers:
building a PuLP model of that size takes longer than solving it).  It splits the model into
independent connected components (:func:`clearing.model.components`), solves them concurrently
(two threads; HiGHS releases the GIL) and runs a primal heuristic on each first (LP dive + RINS,
then the MIP started from that incumbent) because HiGHS' own heuristics need about a minute to
find an incumbent of that quality at 10 000 offers.  The reported gap combines the parts
exactly: ``(sum of objectives - sum of bounds) / |sum of objectives|``.

HiGHS-only process concerns live here too: its first instance prints a banner on C stdout
(:func:`new_highs` points fd 1 at stderr for it) and its scheduler must start single-threaded
(:func:`pin_highs_threads`).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from clearing.errors import SolverFailed
from clearing.model import ModelArrays, SolveOutcome, components, solve_outcome, submodel
from clearing.units import PPM

__all__ = [
    "highs_version",
    "lp_dive",
    "new_highs",
    "pin_highs_threads",
    "rins",
    "solve_highspy",
]

_DIVE_FRACTION = 0.2  # share of fractional options rounded up per dive round
_DIVE_DOWN = 0.5  # share of the least-activated fractional options switched off
_DIVE_RC_FIX = 0.2  # EUR: LP-zero columns this far from entering are fixed at 0
_RINS_SHARE = 0.3  # of a component's time; the rest goes to the MIP (its cuts give the bound)
# Cut-pool limits (HiGHS default 10 000): the RINS sub-MIP only has to find solutions and spent
# ~2 s separating ~8 000 cuts before its first sub-MIP heuristic; measured on seeds 0-2 at 10 000.
_RINS_CUT_POOL = 100
_MIP_CUT_POOL = 1_000
_WORKERS = min(2, os.cpu_count() or 1)  # components solved at once (the target machine: 2)
_PART_GAP = 0.8  # share of the bundle's gap target each component aims for
_RINS_AGREE = 1e-6  # LP and incumbent "agree" on a column only when the LP is integral there


_banner_shown = False


def new_highs() -> Any:
    """A ``highspy.Highs``; the first one per process prints a banner on C stdout, which would
    corrupt a JSON stdout, so that one is created with fd 1 pointed at stderr."""
    global _banner_shown
    import highspy

    if _banner_shown:
        return highspy.Highs()  # type: ignore[no-untyped-call]
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_shown = True
    return h


def highs_version() -> str:
    h = new_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def _highs_lp(m: ModelArrays, *, integer: bool) -> Any:
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = m.n_cols
    lp.num_row_ = len(m.row_lower)
    lp.col_cost_ = m.col_cost
    lp.col_lower_ = m.col_lower
    lp.col_upper_ = m.col_upper
    lp.row_lower_ = np.where(np.isinf(m.row_lower), -highspy.kHighsInf, m.row_lower)
    lp.row_upper_ = m.row_upper
    order = np.lexsort((m.rows, m.cols))
    counts = np.bincount(m.cols, minlength=m.n_cols)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    lp.a_matrix_.index_ = m.rows[order].astype(np.int32)
    lp.a_matrix_.value_ = m.vals[order]
    lp.a_matrix_.num_col_ = m.n_cols
    lp.a_matrix_.num_row_ = len(m.row_lower)
    if integer and m.integer.any():
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
            for i in m.integer
        ]
    return lp


def _configure(h: Any, time_limit_s: float) -> None:
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", max(0.1, float(time_limit_s)))


def pin_highs_threads() -> None:
    """Start HiGHS' process-wide scheduler with one thread before anything solves.

    Why: the clearing sets ``threads=1`` on its solver; if another HiGHS (the agents' LPs via
    PuLP) started the scheduler first with the default thread count, the clearing's solve
    stops with "Not Set" and falls back to CBC, and the auditor's recomputation (HiGHS) then
    differs from the published result. One tiny single-thread solve first avoids that.
    """
    import highspy

    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()  # max x, 0 <= x <= 1: an empty model would not start the scheduler
    lp.num_col_, lp.num_row_ = 1, 0
    lp.col_cost_ = np.array([-1.0])
    lp.col_lower_, lp.col_upper_ = np.array([0.0]), np.array([1.0])
    h.passModel(lp)
    h.run()


def lp_dive(
    m: ModelArrays, time_limit_s: float
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Primal heuristic; returns (integral solution or None, first LP solution, its reduced
    costs).  Solve the LP relaxation; fix "on" columns at 0/1 where the LP put them (zeros only
    when clearly priced out), switch on divisible options already above their minimum, round up
    the most-activated 20 % of the fractional ones (one per exclusive offer) and switch off the
    least-activated half; re-solve; repeat until integral.  About a second at 10 000 offers,
    within ~0.3 % of the optimum (HiGHS' own heuristics need about a minute for that).
    Deterministic: ties break by column index."""
    import highspy

    deadline = time.perf_counter() + time_limit_s
    h = new_highs()
    _configure(h, time_limit_s)
    h.passModel(_highs_lp(m, integer=False))
    # dive on the options' "on" columns only; all-or-nothing z columns stay free until the end
    idx = np.asarray(sorted(set(np.nonzero(m.integer)[0]) - set(m.aon)), dtype=np.int64)
    lower = m.col_lower.copy()
    upper = m.col_upper.copy()
    group_of = np.full(m.n_cols, -1)
    for g, cols in enumerate(m.groups):
        group_of[cols] = g
    last_up: np.ndarray = np.empty(0, dtype=np.int64)
    x_lp: np.ndarray | None = None
    rc_lp: np.ndarray | None = None
    for _ in range(60):
        if time.perf_counter() > deadline:
            return None, x_lp, rc_lp
        h.setOptionValue("time_limit", max(0.1, deadline - time.perf_counter()))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            if last_up.size == 0:
                return None, x_lp, rc_lp
            lower[last_up] = 0.0
            upper[last_up] = 0.0
            _set_bounds(h, last_up, lower, upper)
            last_up = np.empty(0, dtype=np.int64)
            continue
        solution = h.getSolution()
        x = np.asarray(solution.col_value)
        rc = np.asarray(solution.col_dual)
        if x_lp is None:
            x_lp, rc_lp = x.copy(), rc.copy()
        xi = x[idx]
        free = lower[idx] < upper[idx]
        frac = free & (xi > 1e-6) & (xi < 1 - 1e-6)
        if not frac.any():
            if not m.aon:
                x[idx] = np.round(xi)
                return x, x_lp, rc_lp
            # options fixed: switch each all-or-nothing ISP on iff its minimum is already met
            zc = np.asarray(sorted(m.aon), dtype=np.int64)
            on = np.asarray([x[m.aon[z][0]] >= m.aon[z][1] - 1e-9 for z in zc])
            lower[idx] = np.round(xi)
            upper[idx] = np.round(xi)
            lower[zc] = np.where(on, 1.0, 0.0)
            upper[zc] = np.where(on, 1.0, 0.0)
            _set_bounds(h, np.concatenate((idx, zc)), lower, upper)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                return None, x_lp, rc_lp
            x = np.asarray(h.getSolution().col_value)
            x[idx] = np.round(x[idx])
            x[zc] = np.round(x[zc])
            return x, x_lp, rc_lp
        zero = idx[free & (xi <= 1e-6) & (rc[idx] > _DIVE_RC_FIX)]
        one = idx[free & (xi >= 1 - 1e-6)]
        # switching on a divisible option whose LP activation already meets its minimum is free
        free_on = [
            c
            for c in idx[frac]
            if c in m.semi and x[m.semi[c][0]] >= m.semi[c][1] - 1e-9 and group_of[c] < 0
        ]
        if free_on:
            one = np.concatenate((one, np.asarray(free_on, dtype=np.int64)))
            lower[one] = 1.0
            upper[zero] = 0.0
            last_up = np.empty(0, dtype=np.int64)
            _set_bounds(h, np.concatenate((zero, one)), lower, upper)
            continue
        upper[zero] = 0.0
        lower[one] = 1.0
        cand = idx[frac]
        cand = cand[np.lexsort((cand, -x[cand]))]
        n_up = max(1, int(len(cand) * _DIVE_FRACTION))
        taken_groups = {int(group_of[c]) for c in idx[lower[idx] >= 1.0] if group_of[c] >= 0}
        ups: list[int] = []
        for c in cand:
            if len(ups) >= n_up:
                break
            g = int(group_of[c])
            if g >= 0:
                if g in taken_groups:
                    continue
                taken_groups.add(g)
            ups.append(int(c))
        last_up = np.asarray(ups, dtype=np.int64)
        lower[last_up] = 1.0
        # the least-activated fractional ones are switched off (the LP refills around them)
        downs = np.asarray(
            [c for c in cand[::-1][: int(len(cand) * _DIVE_DOWN)] if c not in set(ups)],
            dtype=np.int64,
        )
        upper[downs] = 0.0
        changed = np.concatenate((zero, one, last_up, downs))
        _set_bounds(h, changed, lower, upper)
    return None, x_lp, rc_lp


def rins(
    m: ModelArrays, incumbent: np.ndarray, x_lp: np.ndarray, time_limit_s: float
) -> np.ndarray:
    """Relaxation-induced neighbourhood search: fix the integer columns on which the incumbent
    and the LP relaxation agree, solve the small sub-MIP left over; never worse than the
    incumbent (the better of the two is returned)."""
    idx = np.nonzero(m.integer)[0]
    agree = idx[np.abs(incumbent[idx] - x_lp[idx]) < _RINS_AGREE]
    sub = ModelArrays(**{**m.__dict__})
    sub.col_lower = m.col_lower.copy()
    sub.col_upper = m.col_upper.copy()
    sub.col_lower[agree] = np.round(incumbent[agree])
    sub.col_upper[agree] = np.round(incumbent[agree])
    h = new_highs()
    _configure(h, time_limit_s)
    h.setOptionValue("mip_rel_gap", 1e-4)
    h.setOptionValue("mip_pool_soft_limit", _RINS_CUT_POOL)
    h.passModel(_highs_lp(sub, integer=True))
    _set_start(h, incumbent)
    h.run()
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return incumbent
    x = np.asarray(h.getSolution().col_value)
    cost = float(m.col_cost @ x)
    if abs(cost - float(info.objective_function_value)) > 1e-6 * max(1.0, abs(cost)):
        return incumbent
    return x if cost < float(m.col_cost @ incumbent) else incumbent


def _set_start(h: Any, x: np.ndarray) -> None:
    """Give HiGHS a feasible start (its incumbent and cutoff from the first node); whatever it
    returns is checked against its claimed objective by the caller."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = x.tolist()
    sol.value_valid = True
    h.setSolution(sol)


def _set_bounds(h: Any, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
    if cols.size:
        h.changeColsBounds(int(cols.size), cols.astype(np.int32), lower[cols], upper[cols])


def solve_highspy(m: ModelArrays, *, time_limit_s: int, mip_gap_ppm: int) -> SolveOutcome:
    """Solve with HiGHS through highspy's array API (single-threaded HiGHS, fixed seed).

    The model is split into its connected components (:func:`components`), each solved by
    :func:`_solve_part` with a gap target of 0.8 x the bundle's, so the combined gap
    ``(sum obj - sum bound) / |sum obj|`` -- never above the largest part's -- stays under it.
    Up to :data:`_WORKERS` parts run at once in threads (``Highs.run`` releases the GIL; each
    instance is independent, so the result does not depend on the worker count); a part starting
    gets ``min(1, workers x its size / size of the parts not started)`` of the time left."""
    t0 = time.perf_counter()
    version = highs_version()  # also prints HiGHS' banner (to stderr) before any thread starts
    parts = components(m)
    target = mip_gap_ppm / PPM
    lock = threading.Lock()
    left = [sum(int(c.size) for c in parts)]
    workers = max(1, min(_WORKERS, len(parts)))

    def run(cols: np.ndarray) -> tuple[np.ndarray, float, bool]:
        with lock:
            remaining = time_limit_s - (time.perf_counter() - t0)
            share = max(0.1, remaining * min(1.0, workers * cols.size / left[0]))
            left[0] -= int(cols.size)
        sub = m if len(parts) == 1 else submodel(m, cols)
        return _solve_part(sub, share, _PART_GAP * target)

    def run_in_thread(cols: np.ndarray) -> tuple[np.ndarray, float, bool]:
        try:
            return run(cols)
        finally:  # as highspy's own threaded solve does: free this thread's HiGHS scheduler
            import highspy

            reset = getattr(highspy._core._Highs, "resetThreadScheduler", None)
            if reset is not None:
                reset(False)

    if workers == 1:
        results = [run(cols) for cols in parts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run_in_thread, parts))
    x = np.zeros(m.n_cols)
    bound = 0.0
    proven = True
    for cols, (xs, b_s, ok) in zip(parts, results, strict=True):
        x[cols] = xs
        bound += b_s
        proven = proven and ok
    obj = float(m.col_cost @ x)
    has_int = bool(m.integer.any())
    if not has_int:
        gap: float | None = 0.0
    elif np.isfinite(bound):
        gap = max(0.0, obj - bound) / max(abs(obj), 1e-9)
    else:
        gap = None
    optimal = proven or (gap is not None and gap <= target)
    status = "optimal" if optimal else "time_limit"
    return solve_outcome(m, x, status, obj, gap, "highs", version, time.perf_counter() - t0)


def _solve_part(
    m: ModelArrays, time_limit_s: float, target: float
) -> tuple[np.ndarray, float, bool]:
    """One component: LP relaxation + :func:`lp_dive` (<= 45 % of its time), :func:`rins`
    (<= 30 %), then the full MIP started from that incumbent (``setSolution``) until the gap is
    proven below ``target`` or time is up.  Returns (best solution, best valid bound -- HiGHS'
    dual bound, else the LP bound --, solved to optimality or the target)."""
    import highspy

    t0 = time.perf_counter()
    has_int = bool(m.integer.any())
    start: np.ndarray | None = None
    lp_bound = -np.inf
    if has_int:
        start, x_lp, _ = lp_dive(m, 0.45 * time_limit_s)
        if x_lp is not None:
            lp_bound = float(m.col_cost @ x_lp)
        if start is not None and x_lp is not None:
            start = rins(m, start, x_lp, _RINS_SHARE * time_limit_s)
            if (float(m.col_cost @ start) - lp_bound) <= target * max(abs(lp_bound), 1e-9):
                return start, lp_bound, True  # already proven by the LP bound
    h = new_highs()
    _configure(h, time_limit_s - (time.perf_counter() - t0))
    h.setOptionValue("mip_rel_gap", target)
    h.setOptionValue("mip_pool_soft_limit", _MIP_CUT_POOL)
    h.passModel(_highs_lp(m, integer=True))
    if start is not None:
        _set_start(h, start)
    h.run()
    ms = h.getModelStatus()
    info = h.getInfo()
    candidates: list[np.ndarray] = []
    if info.primal_solution_status == 2:  # kSolutionStatusFeasible
        x_h = np.asarray(h.getSolution().col_value)
        claimed = float(info.objective_function_value)
        # guard: only a vector whose own cost matches HiGHS' claim is trusted
        if abs(float(m.col_cost @ x_h) - claimed) <= 1e-6 * max(1.0, abs(claimed)):
            candidates.append(x_h)
    if start is not None:
        candidates.append(start)
    if not candidates:
        raise SolverFailed(f"HiGHS stopped with {h.modelStatusToString(ms)} and no usable solution")
    x = min(candidates, key=lambda c: float(m.col_cost @ c))  # first wins ties: HiGHS' own
    if not has_int:
        return x, float(m.col_cost @ x), ms == highspy.HighsModelStatus.kOptimal
    bound = lp_bound
    if np.isfinite(info.mip_dual_bound):
        bound = max(bound, float(info.mip_dual_bound))
    return x, bound, ms == highspy.HighsModelStatus.kOptimal
