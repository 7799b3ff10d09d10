"""Check 4: reservations match the result's payment caps; requests match their escrow."""

from __future__ import annotations

from collections import defaultdict

from adapters.chain.types import SessionState
from clearing.bundle import InputBundle
from clearing.encoding import hex32, uuid_to_bytes32
from market.audit.chain_view import (
    AuditedSession,
)
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles


def check_reservations(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    res = CheckResult("reservations")
    if sb.input is not None:
        _check_requests(cs, sb.input, res)
    if cs.chain.state < SessionState.CLEARED:
        return res if res.findings else res.skip("not cleared yet")
    if sb.result is None:
        return res.skip("no parsed result bundle")
    caps: dict[tuple[bytes, str], int] = {}
    for c in sb.result.payment_caps:
        if c.payment_cap_units > 0:
            key = (uuid_to_bytes32(c.request_id), c.fsp.lower())
            caps[key] = caps.get(key, 0) + c.payment_cap_units
    onchain: dict[tuple[bytes, str], int] = {}
    per_request: dict[bytes, int] = defaultdict(int)
    for r in cs.reservations:
        key = (bytes(r.request_id), r.fsp.lower())
        onchain[key] = onchain.get(key, 0) + r.amount
        per_request[bytes(r.request_id)] += r.amount
    for key in sorted(set(caps) | set(onchain)):
        subject = f"{hex32(key[0])}/{key[1]}"
        cap, got = caps.get(key), onchain.get(key)
        if got is None:
            res.add("reservations.missing", f"payment cap {cap} has no reservation", subject)
        elif cap is None:
            res.add("reservations.unexpected", f"reservation of {got} has no payment cap", subject)
        elif cap != got:
            res.add("reservations.amount_mismatch", f"reserved {got}, payment cap {cap}", subject)
    for rid, total in sorted(per_request.items()):
        budget = cs.posted_budgets.get(rid)
        if budget is None or total > budget:
            res.add(
                "reservations.over_budget",
                f"reservations {total} exceed the escrowed budget {budget}",
                hex32(rid),
            )
    return res


def _check_requests(cs: AuditedSession, bundle: InputBundle, res: CheckResult) -> None:
    seen: set[bytes] = set()
    for req in bundle.requests:
        rid = uuid_to_bytes32(req.request_id)
        seen.add(rid)
        info = cs.requests.get(rid)
        if info is None:
            res.add("requests.unknown", "not escrowed on-chain in this session", req.request_id)
            continue
        if bytes(info.request_hash) != req.canonical_hash():
            res.add("requests.hash_mismatch", "body does not hash to requestHash", req.request_id)
        if cs.posted_budgets.get(rid) != req.budget_units:
            res.add(
                "requests.budget_mismatch",
                f"bundle budget {req.budget_units}, escrowed {cs.posted_budgets.get(rid)}",
                req.request_id,
            )
        if info.cancelled:
            res.add("requests.cancelled", "cancelled on-chain but cleared", req.request_id)
    for rid, info in cs.requests.items():
        if rid not in seen and not info.cancelled:
            res.add("requests.dropped", "escrowed but absent from the input bundle", hex32(rid))
