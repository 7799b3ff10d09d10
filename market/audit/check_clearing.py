"""Check 3: clearing the input bundle again gives the published result."""

from __future__ import annotations

from market.audit.chain_view import (
    AuditedSession,
)
from market.audit.codes import MAX_LISTED
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles

_DERIVED = ("$.fsp_proofs", "$.orders_root", "$.input_hash")


def check_clearing(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    from clearing import verify
    from clearing.bundle import with_committed_terms
    from clearing.errors import ClearingError
    from clearing.solvers.highs_api import highs_version

    res = CheckResult("clearing")
    if sb.input is None or sb.result is None:
        return res.skip("input and result bundles needed")
    result = sb.result
    local = highs_version() if result.solver.name == "highs" else ""
    recorded = result.solver.version
    # Recompute under the committed terms (the terms check names a swapped term itself).
    committed = with_committed_terms(sb.input)
    try:
        diffs = verify(committed, result)
    except ClearingError as exc:
        res.add("clearing.recompute_failed", str(exc))
        return res
    if committed != sb.input:
        res.notes.append("recomputed under the committed terms, not the input bundle's rules")
        diffs = [d for d in diffs if d.path != "$.input_hash" or d.reason.startswith("differs")]
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
        if d.path.startswith("$.solver."):
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
    if local and recorded != local:
        res.add(
            "clearing.solver_version_mismatch",
            f"the result was produced with {result.solver.name} {recorded!r}, recomputed with "
            f"{local!r}; {len(recompute)} field(s) differ (first {first})",
        )
        return res
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
