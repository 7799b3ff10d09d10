"""HiGHS plumbing shared by the backend and its heuristics: one ``Highs`` per solve, configured
with the deterministic work limits and the wall-clock safety net, plus the process concerns.

Determinism: every solve runs single-threaded with a fixed ``random_seed`` and stops on work
limits (dive rounds, simplex iterations, branch-and-bound nodes: :data:`WORK_LIMITS`), so the
same model gives the same solution on any machine under any load.  The wall-clock limit is only
a safety net shared by the whole clearing (:class:`Deadline`); a solve it stops raises
:class:`clearing.errors.SafetyNetFired` instead of returning a speed-dependent answer.

Process concerns: HiGHS' first instance prints a banner on C stdout (:func:`new_highs` points
fd 1 at stderr for it) and its scheduler must start single-threaded (:func:`pin_highs_threads`).
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from clearing.bundle import WorkLimits
from clearing.errors import SafetyNetFired
from clearing.model import ModelArrays

__all__ = [
    "WORK_LIMITS",
    "Deadline",
    "configure",
    "highs_lp",
    "highs_version",
    "highs_work_limits",
    "new_highs",
    "pin_highs_threads",
    "run_within",
    "set_bounds",
    "set_start",
]

# The work limits of every HiGHS clearing (the safety net comes from the rules' time_limit_s).
WORK_LIMITS: dict[str, int] = {
    "threads": 1,
    "random_seed": 0,
    "dive_rounds": 60,  # LP re-solves of the dive
    "dive_lp_max_iterations": 1_000_000,  # simplex iterations per dive LP
    "rins_max_nodes": 1,  # the RINS sub-MIP: its root node only
    "mip_max_nodes": 200,  # branch-and-bound nodes of the final MIP per component
    # The widened RINS' gap target, in ppm of the part's: at the part's own target its
    # sub-MIP stops with a worse incumbent and the final MIP runs longer (seeds 4 and 7 at
    # 10 000 offers: 56 s), at 1/4 it spends longer than the final MIP saves (seeds 1, 4, 7, 9).
    "wide_rins_gap_ppm": 500_000,
    # Share of the integer columns, nearest to the LP's by reduced cost, that the widened
    # RINS frees besides the ones the LP leaves fractional (seeds 1-10 at 10 000 offers,
    # worst total: 5 % 33 s, 8 % 16 s).
    "rc_neighbourhood_ppm": 80_000,
    "rc_neighbourhood_max_cols": 1_000,  # ... but at most this many (100 000 offers: 2 %)
    # Bumped whenever the heuristics' code changes what they find: orders from another
    # revision may differ in bytes while within the gap, as from another HiGHS version.
    "heuristics_revision": 3,
}


def highs_work_limits(wall_clock_safety_s: int) -> WorkLimits:
    """The limits a clearing with this safety net runs under (recorded in the result bundle)."""
    return WorkLimits(**WORK_LIMITS, wall_clock_safety_s=wall_clock_safety_s)


_clock = time.perf_counter  # the safety net's clock (a test replaces it to make it fire)


@dataclass(frozen=True)
class Deadline:
    """The wall-clock safety net of one clearing, shared by all its solves."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(_clock() + seconds)

    def left_s(self, what: str) -> float:
        """Seconds left; raises :class:`SafetyNetFired` when none are."""
        left = self.at - _clock()
        if left <= 0:
            raise SafetyNetFired(f"the wall-clock safety net fired before {what}")
        return left


def run_within(h: Any, deadline: Deadline, what: str) -> None:
    """``h.run()`` with the time left as HiGHS' time limit; a stop by that limit raises."""
    import highspy

    h.setOptionValue("time_limit", deadline.left_s(what))
    h.run()
    if h.getModelStatus() == highspy.HighsModelStatus.kTimeLimit:
        raise SafetyNetFired(f"the wall-clock safety net fired during {what}")


_banner_shown = False


def new_highs() -> Any:
    """A single-threaded ``highspy.Highs``; the first one per process prints a banner on C
    stdout, which would corrupt a JSON stdout, so that one is created with fd 1 pointed at
    stderr.

    Single-threaded because HiGHS' scheduler keeps the thread count of the first solve that
    starts it: an LP with the default count first (the agents' envelope LP) makes every later
    ``threads=1`` solve there (the clearing) stop with "Not Set" (see
    :func:`pin_highs_threads`). A caller that wants more threads sets them itself."""
    global _banner_shown
    import highspy

    if _banner_shown:
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("threads", 1)
        return h
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
    h.setOptionValue("threads", 1)
    return h


def highs_version() -> str:
    h = new_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def highs_lp(m: ModelArrays, *, integer: bool) -> Any:
    """The model as a ``highspy.HighsLp`` (column-wise matrix)."""
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


def configure(h: Any, limits: WorkLimits) -> None:
    """Quiet, single-threaded, seeded (the per-solve work limits are set by the caller)."""
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", limits.threads)
    h.setOptionValue("random_seed", limits.random_seed)


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


def set_start(h: Any, x: np.ndarray) -> None:
    """Give HiGHS a feasible start (its incumbent and cutoff from the first node); whatever it
    returns is checked against its claimed objective by the caller."""
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = x.tolist()
    sol.value_valid = True
    h.setSolution(sol)


def set_bounds(h: Any, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
    if cols.size:
        h.changeColsBounds(int(cols.size), cols.astype(np.int32), lower[cols], upper[cols])
