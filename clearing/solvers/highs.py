"""The HiGHS backend: highspy's array API, components solved in parallel, deterministic limits.

:func:`solve_highspy` passes the model arrays to HiGHS directly (fast at 100 000 offers:
building a PuLP model of that size takes longer than solving it).  It splits the model into
independent connected components (:func:`clearing.model.components`), solves them concurrently
(two threads; HiGHS releases the GIL) and runs the primal heuristics of
:mod:`clearing.solvers.heuristics` on each first (LP dive, then RINS widened by reduced cost
when the LP bound does not yet prove that incumbent, then the MIP started from the best
incumbent: its root cut loop stops as soon as the gap closes, so the better the start, the
fewer cut rounds).
The reported gap combines the parts exactly:
``(sum of objectives - sum of bounds) / |sum of objectives|``.

Every solve stops on work limits (:data:`clearing.solvers.highs_api.WORK_LIMITS`), never on the
clock, so the solution is a function of the model alone: the same on a slow, fast or loaded
machine, whatever the thread that solved a component.  The wall-clock limit is only a safety
net; when it fires, :class:`clearing.errors.SafetyNetFired` reaches the engine.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from clearing.bundle import WorkLimits
from clearing.errors import SolverFailed
from clearing.model import (
    ModelArrays,
    PartStages,
    SolveOutcome,
    components,
    solve_outcome,
    submodel,
)
from clearing.solvers.heuristics import lp_dive, rins
from clearing.solvers.highs_api import (
    Deadline,
    configure,
    highs_lp,
    highs_version,
    new_highs,
    run_within,
    set_start,
)
from clearing.units import PPM

__all__ = ["solve_highspy"]

# Cut-pool limit of the final MIP (HiGHS default 10 000).
_MIP_CUT_POOL = 1_000
_WORKERS = min(2, os.cpu_count() or 1)  # components solved at once (the target machine: 2)
# Share of the bundle's gap target each component aims for. The combined gap is the parts' gaps
# weighted by |objective| (all objectives <= 0: welfare), so parts at the target give the target;
# the 1 % margin absorbs float noise. Was 0.8: the extra cut rounds cost seconds at 10 000 offers.
_PART_GAP = 0.99


def solve_highspy(m: ModelArrays, *, limits: WorkLimits, mip_gap_ppm: int) -> SolveOutcome:
    """Solve with HiGHS through highspy's array API under ``limits``.

    The model is split into its connected components (:func:`components`), each solved by
    :func:`_solve_part` with a gap target of 0.99 x the bundle's, so the combined gap
    ``(sum obj - sum bound) / |sum obj|`` -- never above the largest part's -- stays under it.
    Up to :data:`_WORKERS` parts run at once in threads (``Highs.run`` releases the GIL); each
    part is solved independently under the same work limits, so neither the worker count nor
    the scheduling changes the result.  Status ``optimal`` when the gap is proven, else
    ``work_limit``."""
    t0 = time.perf_counter()
    version = highs_version()  # also prints HiGHS' banner (to stderr) before any thread starts
    deadline = Deadline.after(limits.wall_clock_safety_s)
    parts = components(m)
    target = mip_gap_ppm / PPM
    workers = max(1, min(_WORKERS, len(parts)))

    def run(cols: np.ndarray) -> tuple[np.ndarray, float, bool, PartStages]:
        sub = m if len(parts) == 1 else submodel(m, cols)
        return _solve_part(sub, limits, deadline, _PART_GAP * target)

    def run_in_thread(cols: np.ndarray) -> tuple[np.ndarray, float, bool, PartStages]:
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
    for cols, (xs, b_s, ok, _) in zip(parts, results, strict=True):
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
    status = "optimal" if optimal else "work_limit"
    solve_s = time.perf_counter() - t0
    stages = [r[3] for r in results]
    return solve_outcome(m, x, status, obj, gap, "highs", version, solve_s, stages)


def _solve_part(
    m: ModelArrays, limits: WorkLimits, deadline: Deadline, target: float
) -> tuple[np.ndarray, float, bool, PartStages]:
    """One component: LP relaxation + :func:`lp_dive`, then (unless the LP bound already
    proves the dive's incumbent) :func:`rins` widened by reduced cost, then the full MIP started
    from that incumbent (``setSolution``) until the gap is proven below ``target`` or
    ``limits.mip_max_nodes`` are explored.  Returns (best solution, best valid bound -- HiGHS'
    dual bound, else the LP bound --, solved to optimality or the target, where the time went:
    :class:`PartStages`)."""
    import highspy

    has_int = bool(m.integer.any())
    stages = PartStages(columns=m.n_cols, binaries=int(m.integer.sum()))
    start: np.ndarray | None = None
    lp_bound = -np.inf
    if has_int:
        t = time.perf_counter()
        start, x_lp, rc_lp = lp_dive(m, limits, deadline)
        stages.dive_s = time.perf_counter() - t
        if x_lp is not None:
            lp_bound = float(m.col_cost @ x_lp)
        if start is not None and x_lp is not None and rc_lp is not None:
            proven_at = lp_bound + target * max(abs(lp_bound), 1e-9)  # the LP bound proves this
            stages.dive_gap_over_lp = _gap_over(m, start, lp_bound)
            if float(m.col_cost @ start) <= proven_at:
                stages.proven_by = "dive"
                return start, lp_bound, True, stages
            # The final MIP's root cut loop stops as soon as the gap closes, so a better
            # incumbent shortens it, though how much depends on how low the LP bound lies
            # (10 000 offers, from this RINS' incumbent: 0.9-4.8 s per part; seed 7's needs
            # ~15 rounds even from the best incumbent known).
            # RINS freed also where the LP's reduced cost is small, aiming at half the target,
            # finds one (seeds 1-10 at 10 000 offers: worst total 58.7 s -> 16.8 s; it
            # replaced a plain RINS plus a RINS widened along rows, which found worse ones).
            lns_target = limits.wide_rins_gap_ppm / PPM * target
            t = time.perf_counter()
            start = rins(
                m,
                start,
                x_lp,
                limits,
                deadline,
                lns_target,
                reduced_costs=rc_lp,
                rc_share_ppm=limits.rc_neighbourhood_ppm,
                rc_max_cols=limits.rc_neighbourhood_max_cols,
                objective_target=proven_at,
            )
            stages.lns_s = time.perf_counter() - t
            stages.lns_gap_over_lp = _gap_over(m, start, lp_bound)
            if float(m.col_cost @ start) <= proven_at:
                stages.proven_by = "lns"
                return start, lp_bound, True, stages
    t = time.perf_counter()
    h = new_highs()
    configure(h, limits)
    h.setOptionValue("mip_max_nodes", limits.mip_max_nodes)
    h.setOptionValue("mip_rel_gap", target)
    h.setOptionValue("mip_pool_soft_limit", _MIP_CUT_POOL)
    h.passModel(highs_lp(m, integer=True))
    if start is not None:
        set_start(h, start)
    run_within(h, deadline, "the MIP")
    stages.mip_s = time.perf_counter() - t
    ms = h.getModelStatus()
    if ms == highspy.HighsModelStatus.kOptimal:
        stages.proven_by = "mip"
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
        return x, float(m.col_cost @ x), ms == highspy.HighsModelStatus.kOptimal, stages
    bound = lp_bound
    if np.isfinite(info.mip_dual_bound):
        bound = max(bound, float(info.mip_dual_bound))
    return x, bound, ms == highspy.HighsModelStatus.kOptimal, stages


def _gap_over(m: ModelArrays, x: np.ndarray, lp_bound: float) -> float:
    """How far ``x``'s objective lies above the LP bound, relative to the bound."""
    return (float(m.col_cost @ x) - lp_bound) / max(abs(lp_bound), 1e-9)
