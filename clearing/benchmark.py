"""The clearing benchmark: one seeded session, cleared by HiGHS, CBC and the greedy baseline.

Pure computation plus timing; the CLI (``flexmarket bench clearing``) prints the dict as JSON.
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
from clearing.model import highs_version
from clearing.prepare import prepare
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle

__all__ = ["run_clearing_benchmark"]


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
        progress("clearing with CBC (PuLP)")
        cbc = _run(bundle, "pulp-cbc")
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
        "time_limit_s": bundle.rules.time_limit_s,
        "mip_gap_target": bundle.rules.mip_gap_ppm / 1_000_000,
        "peak_rss_mb": _peak_rss_mb(),
    }
    return out
