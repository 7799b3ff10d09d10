"""Check 3: clearing the input bundle again gives the published result.

Under the committed terms, and with a clearing certificate: where the recomputation differs
and the result names another solver version, the result is accepted only when its orders are
exactly what the input gives for their activations and their welfare is within the committed
MIP gap of the auditor's own recomputed bound (never below what the auditor itself reached);
a claimed version alone never excuses a worse objective. Recorded work limits other than this
code's (another heuristics revision) count as another version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.units import PPM
from market.audit.chain_view import (
    AuditedSession,
)
from market.audit.check_terms import committed_terms_of
from market.audit.codes import MAX_LISTED
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles

if TYPE_CHECKING:
    from clearing.bundle import ResultBundle
    from clearing.verifier import Recomputation

_DERIVED = ("$.fsp_proofs", "$.orders_root", "$.input_hash")


def check_clearing(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    from clearing.bundle import with_committed_terms
    from clearing.errors import ClearingError
    from clearing.solvers.highs_api import WORK_LIMITS, highs_version, highs_work_limits
    from clearing.verifier import recompute as recompute_clearing

    res = CheckResult("clearing")
    if sb.input is None or sb.result is None:
        return res.skip("input and result bundles needed")
    result = sb.result
    local = highs_version() if result.solver.name == "highs" else ""
    recorded = result.solver.version
    limits = result.solver.limits
    if local and limits is not None and limits != highs_work_limits(limits.wall_clock_safety_s):
        # Other work limits or heuristics give other bytes within the gap, like another
        # version: the welfare verdict below applies, and a claim never excuses a worse one.
        revision = WORK_LIMITS["heuristics_revision"]
        local = f"{local} (this code's work limits, heuristics revision {revision})"
        recorded = (
            f"{recorded} (other work limits, heuristics revision {limits.heuristics_revision})"
        )
    # Recompute under the committed terms (the terms check names a swapped term itself).
    terms = committed_terms_of(cs, sb)
    committed = (
        with_committed_terms(sb.input.model_copy(update={"terms": terms}))
        if terms is not None
        else sb.input
    )
    try:
        rc = recompute_clearing(committed, result)
    except ClearingError as exc:
        res.add("clearing.recompute_failed", str(exc))
        return res
    diffs = rc.differences
    _check_certificate(result, rc, res)
    if committed != sb.input:  # its hash is not the input bundle's: bundle_hashes checks that
        diffs = [d for d in diffs if d.path != "$.input_hash" or d.reason.startswith("differs")]
        if committed.model_copy(update={"terms": sb.input.terms}) != sb.input:
            res.notes.append("recomputed under the committed terms, not the input bundle's rules")
    if result.status == "unproven":
        # The wall-clock safety net publishes the greedy orders; whether it really fired cannot
        # be checked from the chain, so an operator could use the label to skip optimisation.
        res.add(
            "clearing.unproven",
            "the published orders are the greedy fallback of an unproven clearing "
            f"({result.solver.fallback_reason or 'no reason given'}): "
            "welfare may be below the optimum",
        )
    res.notes.append(
        f"recomputed with {result.solver.name} {local or '(cbc)'}; result recorded "
        f"{result.solver.name} {recorded}, status {result.status}"
    )
    recompute = []
    for d in diffs:
        if d.path.startswith(("$.solver.", "$.certificate")):
            continue
        if d.reason in (
            "differs from recomputation",
            "length differs",
            "missing",
            "unexpected field",
        ):
            recompute.append(d)
        elif d.path == "$.input_hash":
            res.add("clearing.input_hash_mismatch", d.reason, d.path)
        elif d.path == "$.orders_root":
            res.add("clearing.orders_root_invalid", d.reason, d.path)
        elif d.path.startswith("$.fsp_proofs"):
            res.add("clearing.proof_invalid", d.reason, d.path)
        else:
            res.add("clearing.rule_violation", d.reason, d.path)
    # Proofs, the orders root and the input hash are derived fields, checked on their own above.
    derived = [d for d in recompute if d.path.startswith(_DERIVED)]
    recompute = [d for d in recompute if not d.path.startswith(_DERIVED)]
    if derived:
        res.notes.append(f"{len(derived)} derived field(s) (proofs, root, input hash) differ too")
    # The reported MIP gap is solver metadata (float noise can make it 0 or 1 ppm): only a gap
    # above the rules' tolerance is a finding.
    target = committed.rules.mip_gap_ppm
    for d in [d for d in recompute if d.path == "$.mip_gap_ppm"]:
        if 0 <= result.mip_gap_ppm <= target:
            recompute.remove(d)
            res.notes.append(
                f"reported MIP gap {d.actual} ppm, recomputed {d.expected} (<= {target})"
            )
    if not recompute:
        if local and recorded and local != recorded:
            res.notes.append(f"solver version differs ({recorded} vs {local}) but results agree")
        return res
    first = f"{recompute[0].path}: expected {recompute[0].expected}, got {recompute[0].actual}"
    if local and recorded != local and rc.published_welfare_units is not None:
        verdict = _objective_verdict(rc, target)
        if verdict is None:
            res.notes.append(
                f"solver version differs ({recorded} vs {local}); {len(recompute)} field(s) "
                f"differ (first {first}), but the orders' welfare {rc.published_welfare_units} "
                "is within the committed gap of the recomputed bound: accepted"
            )
            return res
        code, why = verdict
        res.add(code, f"{why}; the result claims {result.solver.name} {recorded!r}", "$.orders")
        return res
    if local and recorded != local:  # named, but it excuses none of the differences below
        res.add(
            "clearing.solver_version_mismatch",
            f"the result claims {result.solver.name} {recorded!r}, recomputed with {local!r}; "
            f"its orders are not what the input gives for their activations (first {first})",
        )
    if result.status == "time_limit":
        res.notes.append("the result stopped at its time limit: differences may be legitimate")
    for d in recompute[:MAX_LISTED]:
        code = (
            "clearing.order_differs"
            if d.path.startswith("$.orders[")
            else "clearing.result_differs"
        )
        res.add(code, f"{d.reason}: expected {d.expected}, published {d.actual}", d.path)
    if len(recompute) > MAX_LISTED:
        res.notes.append(f"{len(recompute) - MAX_LISTED} more differences not listed")
    return res


def _check_certificate(result: ResultBundle, rc: Recomputation, res: CheckResult) -> None:
    """The result's own claims: its objective is its orders' welfare, its bound is above it."""
    cert = result.certificate
    if cert is None:
        res.notes.append("the result carries no clearing certificate")
        return
    welfare = rc.published_welfare_units
    if welfare is not None and cert.objective_units != welfare:
        res.add(
            "clearing.certificate_invalid",
            f"claimed objective {cert.objective_units} != the orders' welfare {welfare}",
            "$.certificate.objective_units",
        )
    if cert.dual_bound_units is not None and cert.dual_bound_units < cert.objective_units:
        res.add(
            "clearing.certificate_invalid",
            f"claimed dual bound {cert.dual_bound_units} < objective {cert.objective_units}",
            "$.certificate.dual_bound_units",
        )


def _objective_verdict(rc: Recomputation, gap_ppm: int) -> tuple[str, str] | None:
    """None when the published welfare is acceptable against the auditor's own clearing, else
    (code, reason).  The floor is the committed gap below the recomputed bound, but never above
    the welfare the recomputation itself reached (integer rounding of energies keeps even the
    optimum slightly below the solver's continuous bound)."""
    welfare = rc.published_welfare_units
    own = rc.expected
    assert welfare is not None
    if own is None or own.certificate is None:
        return None if own is None else _floor_verdict(welfare, own.welfare_units, None)
    bound = own.certificate.dual_bound_units
    if bound is None:
        return _floor_verdict(welfare, own.welfare_units, None)
    floor = min(own.welfare_units, bound - gap_ppm * abs(bound) // PPM)
    if welfare > bound:
        return (
            "clearing.objective_above_bound",
            f"the orders' welfare {welfare} is above the recomputed bound {bound}: no feasible "
            "clearing of this input reaches it",
        )
    return _floor_verdict(welfare, floor, bound)


def _floor_verdict(welfare: int, floor: int, bound: int | None) -> tuple[str, str] | None:
    if welfare >= floor:
        return None
    of = f" (recomputed bound {bound})" if bound is not None else ""
    return (
        "clearing.objective_below_bound",
        f"the orders' welfare {welfare} is below {floor}, the least the committed gap allows{of}",
    )
