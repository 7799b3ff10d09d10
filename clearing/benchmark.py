"""The clearing benchmark: one seeded session, cleared by HiGHS, CBC and the greedy baseline.

Pure computation plus timing; the CLI (``flexmarket bench clearing``) prints the dict as JSON.

``speedup_highs_vs_cbc`` is a time-to-target ratio (see :data:`SPEEDUP_DEFINITION`): CBC is run on
the same model with a longer limit (``cbc_time_limit_s``, default 60 s) and the gap target set to
the gap HiGHS reached (at least the bundle's target), so both stop when they prove the same
quality; the ratio is CBC's total time over HiGHS'.  If CBC hits its limit first the ratio is a
lower bound (``speedup_is_lower_bound``).  Both raw runs are reported unchanged.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from clearing.engine import clear_run
from clearing.errors import ClearingError
from clearing.greedy import greedy
from clearing.prepare import prepare
from clearing.solvers.highs import highs_version
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle

__all__ = ["SPEEDUP_DEFINITION", "run_clearing_benchmark"]

SPEEDUP_DEFINITION = (
    "cbc.total_s / highs.total_s, where CBC clears the same bundle with its gap target set to "
    "max(highs.gap, mip_gap_target) and time limit cbc_time_limit_s: the ratio of times to "
    "reach the same proven gap; a lower bound when CBC stops at its time limit"
)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _run(bundle: Any, backend: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        run = clear_run(bundle, backend=backend)
    except ClearingError as exc:  # e.g. CBC found nothing within the time limit
        return {"error": str(exc), "total_s": round(time.perf_counter() - t0, 3)}
    total = time.perf_counter() - t0
    return {
        "build_s": round(run.build_s, 3),
        "solve_s": round(run.solve_s, 3),
        "total_s": round(total, 3),
        "welfare": run.result.welfare_units,
        "gap": None if run.gap is None else round(run.gap, 6),
        "status": run.result.status,
        "orders": len(run.result.orders),
        "solver_version": run.result.solver.version,
    }


def run_clearing_benchmark(
    offers: int,
    seed: int = 0,
    *,
    skip_cbc: bool = False,
    time_limit_s: int | None = None,
    cbc_time_limit_s: int = 60,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Generate, then clear with HiGHS (highspy arrays), CBC (PuLP) and greedy; return metrics."""
    progress(f"generating session with {offers} offers (seed {seed})")
    t0 = time.perf_counter()
    bundle = generate_session(
        offers, seed, solver_version=highs_version(), time_limit_s=time_limit_s
    )
    gen_s = time.perf_counter() - t0
    progress(f"generated in {gen_s:.1f}s; clearing with HiGHS")
    highs = _run(bundle, "highspy")
    progress(f"HiGHS: {highs}")
    cbc: dict[str, Any] | None = None
    if not skip_cbc:
        reached = highs.get("gap")
        gap_ppm = bundle.rules.mip_gap_ppm
        if reached is not None:
            gap_ppm = max(gap_ppm, int(-(-reached * 1_000_000 // 1)))
        rules = bundle.rules.model_copy(
            update={"time_limit_s": cbc_time_limit_s, "mip_gap_ppm": gap_ppm}
        )
        progress(f"clearing with CBC (PuLP) to gap {gap_ppm / 1e6:.4%}, limit {cbc_time_limit_s}s")
        cbc = _run(bundle.model_copy(update={"rules": rules}), "pulp-cbc")
        cbc["gap_target"] = gap_ppm / 1_000_000
        cbc["time_limit_s"] = cbc_time_limit_s
        progress(f"CBC: {cbc}")
    progress("greedy baseline")
    t1 = time.perf_counter()
    g = greedy(prepare(validate_bundle(bundle)))
    greedy_total = time.perf_counter() - t1
    out: dict[str, Any] = {
        "offers": offers,
        "seed": seed,
        "generate_s": round(gen_s, 3),
        "highs": highs,
        "cbc": cbc,
        "greedy": {"total_s": round(greedy_total, 3), "welfare": g.evaluation.welfare_units},
        "welfare_ratio_greedy_vs_highs": (
            round(g.evaluation.welfare_units / highs["welfare"], 6)
            if highs.get("welfare")
            else None
        ),
        "speedup_highs_vs_cbc": (
            round(cbc["total_s"] / highs["total_s"], 3) if cbc and highs["total_s"] else None
        ),
        "speedup_definition": SPEEDUP_DEFINITION,
        "speedup_is_lower_bound": bool(cbc and cbc.get("status") != "optimal"),
        "time_limit_s": bundle.rules.time_limit_s,
        "mip_gap_target": bundle.rules.mip_gap_ppm / 1_000_000,
        "peak_rss_mb": _peak_rss_mb(),
    }
    return out
