"""The clearing benchmark: seeded sessions, cleared by HiGHS, CBC and the greedy baseline.

Computation plus timing; the CLI (``flexmarket bench clearing``) prints the dicts as JSON.
:func:`run_clearing_benchmark` measures one seed; :func:`run_clearing_seeds` measures several
and summarises them (worst and median total time, worst gap, share of seeds whose gap was
proven) and clears the first seed's session again beside a busy loop on every core to show the
orders do not depend on load (``same_orders_under_load``).  The bench picks no time limit per
size: HiGHS stops on its work limits and the rules' ``time_limit_s`` is the same safety net for
every size (:data:`SAFETY_NET_S`), so a slow seed shows as a slow seed, not as a hidden miss.

``speedup_highs_vs_cbc`` is a time-to-target ratio (see :data:`SPEEDUP_DEFINITION`): CBC is run on
the same model with a longer limit (``cbc_time_limit_s``, default 60 s) and the gap target set to
the gap HiGHS reached (at least the bundle's target), so both stop when they prove the same
quality; the ratio is CBC's total time over HiGHS'.  If CBC hits its limit first the ratio is a
lower bound (``speedup_is_lower_bound``).  Both raw runs are reported unchanged.

Where HiGHS' time went: ``highs.parts`` has an entry for each of the slowest independent
components (``part_count`` counts them all): the wall seconds of its LP dive, its RINS
(``lns_s``) and its final MIP, which of them proved the gap, and how far the dive's and the
RINS' incumbents lay above the LP bound; the summary repeats them for the slowest seed
(``worst_seed_parts``).  They are measurements, never part of a result bundle: the orders
depend on the work limits alone.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from clearing.busy_load import busy_cores
from clearing.engine import clear, clear_run
from clearing.errors import ClearingError
from clearing.gc_pause import gc_paused
from clearing.greedy import greedy
from clearing.model import PartStages
from clearing.prepare import prepare
from clearing.solvers.highs_api import highs_version
from clearing.synthetic import generate_session
from clearing.validation import validate_bundle

__all__ = ["SAFETY_NET_S", "SPEEDUP_DEFINITION", "run_clearing_benchmark", "run_clearing_seeds"]

SAFETY_NET_S = 600  # the rules' time_limit_s in every bench session: a safety net, not a target
# The slowest components shown per run (a synthetic session also has dozens of one-column ones:
# requests no option can cover).
_SHOWN_PARTS = 4

SPEEDUP_DEFINITION = (
    "cbc.total_s / highs.total_s, where CBC clears the same bundle with its gap target set to "
    "max(highs.gap, mip_gap_target) and time limit cbc_time_limit_s: the ratio of times to "
    "reach the same proven gap; a lower bound when CBC stops at its time limit"
)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def _run(bundle: Any, backend: Any, results: dict[str, bytes] | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        run = clear_run(bundle, backend=backend)
    except ClearingError as exc:  # e.g. CBC found nothing within the time limit
        return {"error": str(exc), "total_s": round(time.perf_counter() - t0, 3)}
    total = time.perf_counter() - t0
    if results is not None:
        results[backend] = run.result.to_canonical()
    return {
        "build_s": round(run.build_s, 3),
        "solve_s": round(run.solve_s, 3),
        "total_s": round(total, 3),
        "welfare": run.result.welfare_units,
        "gap": None if run.gap is None else round(run.gap, 6),
        "status": run.result.status,
        "orders": len(run.result.orders),
        "solver_version": run.result.solver.version,
        "part_count": len(run.parts),
        "parts": [_part(p) for p in sorted(run.parts, key=_part_s, reverse=True)[:_SHOWN_PARTS]],
    }


def _part_s(p: PartStages) -> float:
    return p.dive_s + p.lns_s + p.mip_s


def _part(p: PartStages) -> dict[str, Any]:
    """One component's stage times and incumbent quality (HiGHS only; CBC reports none)."""

    def gap(g: float | None) -> float | None:
        return None if g is None else round(g, 6)

    return {
        "columns": p.columns,
        "binaries": p.binaries,
        "dive_s": round(p.dive_s, 3),
        "lns_s": round(p.lns_s, 3),
        "mip_s": round(p.mip_s, 3),
        "proven_by": p.proven_by,
        "dive_gap_over_lp": gap(p.dive_gap_over_lp),
        "lns_gap_over_lp": gap(p.lns_gap_over_lp),
    }


def run_clearing_benchmark(
    offers: int,
    seed: int = 0,
    *,
    skip_cbc: bool = False,
    time_limit_s: int | None = None,
    cbc_time_limit_s: int = 60,
    progress: Callable[[str], None] = lambda _msg: None,
    results: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Generate, then clear with HiGHS (highspy arrays), CBC (PuLP) and greedy; return metrics.

    ``results``, if given, receives each backend's result bundle bytes."""
    progress(f"generating session with {offers} offers (seed {seed})")
    t0 = time.perf_counter()
    bundle = _session(offers, seed, time_limit_s)
    gen_s = time.perf_counter() - t0
    progress(f"generated in {gen_s:.1f}s; clearing with HiGHS")
    highs = _run(bundle, "highspy", results)
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


def _session(offers: int, seed: int, time_limit_s: int | None) -> Any:
    with gc_paused():  # 100 000 offers: ~20 s of generation, much of it the collector's
        return generate_session(
            offers, seed, solver_version=highs_version(), time_limit_s=time_limit_s or SAFETY_NET_S
        )


def run_clearing_seeds(
    offers: int,
    seeds: Sequence[int],
    *,
    skip_cbc: bool = False,
    time_limit_s: int | None = None,
    cbc_time_limit_s: int = 60,
    progress: Callable[[str], None] = lambda _msg: None,
    emit: Callable[[dict[str, Any]], None] = lambda _line: None,
) -> dict[str, Any]:
    """Benchmark every seed (each line handed to ``emit`` as it is done), then clear the first
    seed's session again beside a busy loop on every core; return the summary line."""
    if not seeds:
        raise ValueError("no seeds")
    first: dict[str, bytes] = {}
    lines: list[dict[str, Any]] = []
    for i, seed in enumerate(seeds):
        line = run_clearing_benchmark(
            offers,
            seed,
            skip_cbc=skip_cbc,
            time_limit_s=time_limit_s,
            cbc_time_limit_s=cbc_time_limit_s,
            progress=progress,
            results=first if i == 0 else None,
        )
        lines.append(line)
        emit(line)
    progress(f"clearing seed {seeds[0]} again beside a busy loop on every core")
    bundle = _session(offers, seeds[0], time_limit_s)
    with busy_cores() as spinning:
        t0 = time.perf_counter()
        loaded = clear(bundle).to_canonical()
        loaded_s = time.perf_counter() - t0
    highs = [line["highs"] for line in lines]
    totals = [h["total_s"] for h in highs]
    gaps = [h.get("gap") for h in highs]
    target = lines[0]["mip_gap_target"]
    proved = [h.get("status") == "optimal" for h in highs]
    worst = totals.index(max(totals))
    return {
        "summary": True,
        "offers": offers,
        "seeds": list(seeds),
        "worst_total_s": max(totals),
        "worst_seed": seeds[worst],
        "worst_seed_parts": highs[worst].get("parts", []),
        "median_total_s": round(statistics.median(totals), 3),
        "worst_gap": None if None in gaps else max(g for g in gaps if g is not None),
        "mip_gap_target": target,
        "share_proved_gap": round(sum(proved) / len(proved), 3),
        "statuses": {s: [h.get("status") for h in highs].count(s) for s in _statuses(highs)},
        "same_orders_under_load": loaded == first.get("highspy"),
        "under_load": {"seed": seeds[0], "busy_processes": spinning, "total_s": round(loaded_s, 3)},
        "safety_net_s": time_limit_s or SAFETY_NET_S,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _statuses(highs: list[dict[str, Any]]) -> list[str]:
    return sorted({str(h.get("status")) for h in highs})
