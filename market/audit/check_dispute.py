"""Check 8 (disputed sessions only): the arbiter's resolution recomputes from the evidence.

The arbiter's ``resolve`` replaces the attested delivery root and payouts.  Its resolution
bundle (the corrected delivery bundle) must be the attested bundle's inputs with extra signed
readings appended (the evidence) and nothing else changed; settling those inputs again with
the attested rules and the registry's keys must give its report, the on-chain corrected root
and the on-chain payouts.  A mismatch names the arbiter (the account that sent ``resolve``).
"""

from __future__ import annotations

from clearing.encoding import canonical_json, hex32
from clearing.settlement.delivery import recompute_with_evidence
from market.audit.chain_view import AuditedSession
from market.audit.check_delivery import (
    SETTLE_ERRORS,
    check_registry_use,
    no_registry,
    parse_delivery,
)
from market.audit.check_terms import committed_terms_of
from market.audit.findings import CheckResult
from market.audit.registry import StationRegistry
from market.audit.session_bundles import SessionBundles, root_bytes


def check_dispute(
    cs: AuditedSession,
    sb: SessionBundles,
    registry: StationRegistry | None,
    registry_error: str | None = None,
) -> CheckResult:
    res = CheckResult("dispute")
    if not cs.resolved:
        return res.skip("disputed, not resolved yet")
    arbiter = cs.resolved_by or "the arbiter"
    if sb.result is None or sb.delivery is None:
        return res.skip("delivery and result bundles needed")
    if "resolution" in sb.parse_errors:
        res.add(
            "dispute.resolution_unparseable",
            f"resolution bundle: {sb.parse_errors['resolution']}",
            arbiter,
        )
        return res
    if sb.resolution is None:
        return res.error("resolution bundle not published", "dispute.resolution_missing")
    if registry is None:
        return no_registry(res, registry_error)
    attested = parse_delivery(sb.delivery, res, "delivery.inputs_invalid")
    corrected = parse_delivery(sb.resolution, res, "dispute.resolution_unparseable")
    if attested is None or corrected is None:
        return res
    (before, rules), (after, _) = attested, corrected
    terms = committed_terms_of(cs, sb)
    if terms is not None:  # the arbiter, too, settles under the committed rules
        rules = terms.settlement
    n = len(before.readings)
    same_rest = before.model_copy(update={"readings": ()}) == after.model_copy(
        update={"readings": ()}
    )
    if not same_rest or after.readings[:n] != before.readings:
        res.add(
            "dispute.inputs_changed",
            "the resolution's inputs are not the attested inputs plus evidence readings",
            arbiter,
        )
    keys = check_registry_use(after, registry, res, cs.chain.gate_closure)
    evidence = list(after.readings[n:])
    try:
        outcome = recompute_with_evidence(
            sb.delivery, evidence, list(sb.result.orders), rules, keys
        )
    except SETTLE_ERRORS as exc:
        res.add("dispute.recompute_failed", f"cannot settle with the evidence: {exc!r}", arbiter)
        return res
    if outcome.report_bytes != canonical_json(sb.resolution["report"]):
        res.add(
            "dispute.report_differs",
            "the resolution's report is not the recomputation from its evidence",
            arbiter,
        )
    elif outcome.bundle_bytes != canonical_json(sb.resolution):
        res.add(
            "dispute.report_differs",
            "the resolution bundle's fields outside its report are not the recomputation's",
            arbiter,
        )
    root = outcome.report.root
    if root_bytes(root) != bytes(cs.roots.delivery_root):
        res.add(
            "dispute.root_mismatch",
            f"resolve posted corrected root {hex32(cs.roots.delivery_root)}, the evidence "
            f"gives {root}",
            arbiter,
        )
    vector = outcome.report.payout_vector()
    for i, (mine, theirs) in enumerate(zip(vector, cs.payouts, strict=False)):
        if mine != theirs:
            code = (
                "dispute.payout_above_recomputed"
                if theirs > mine
                else "dispute.payout_below_recomputed"
            )
            res.add(code, f"reservation {i}: resolved payout {theirs}, recomputed {mine}", arbiter)
    if len(vector) != len(cs.payouts):
        res.add(
            "dispute.payout_above_recomputed",
            f"{len(cs.payouts)} resolved payouts for {len(vector)} recomputed",
            arbiter,
        )
    res.notes.append(f"{len(evidence)} evidence reading(s); resolved by {arbiter}")
    return res
