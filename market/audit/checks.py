"""The seven checks of one session, plus the market-wide money reconciliation.

Each check takes what the chain says (:class:`~market.audit.chain_view.AuditedSession`) and the
parsed bundles, and returns a :class:`~market.audit.findings.CheckResult` whose findings carry
stable codes (``offers.changed``, ``delivery.payout_above_recomputed`` ...) listed in
``FINDING_CODES``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from adapters.chain.client import DecodedEvent
from adapters.chain.types import SessionState
from clearing.bundle import InputBundle, ResultBundle
from clearing.commitments import OFFER_LEAF_ENCODING, offer_leaf, offers_root
from clearing.encoding import canonical_json, hex32, keccak256, uuid_to_bytes32
from clearing.engine import ORDER_LEAF_ENCODING, ZERO_ROOT, order_leaf
from clearing.merkle import StandardMerkleTree, leaf_hash, process_proof
from clearing.messages import FlexOffer
from clearing.settlement.delivery import DeliveryInputs, compute_delivery, report_root
from clearing.settlement.rules import SettlementError, SettlementRules
from market.audit.chain_view import (
    AuditedSession,
    ChainView,
    NettingInput,
    credited_by_account,
    is_netting_entry,
    netting_txs,
)
from market.audit.findings import CheckResult
from market.audit.sources import Receipts, StationRegistry

FINDING_CODES = {
    "bundle.unparseable": "a published bundle is not valid JSON of its schema",
    "bundle.session_mismatch": "a bundle names another session",
    "bundle.input_hash_mismatch": "keccak256(input bundle) != on-chain inputHash",
    "bundle.result_input_hash_mismatch": "result bundle's input_hash != on-chain inputHash",
    "bundle.result_root_mismatch": "result bundle's orders_root != on-chain resultRoot",
    "bundle.result_root_invalid": "orders_root is not the Merkle root of the result's orders",
    "bundle.delivery_root_mismatch": "delivery report root (from its leaves) != on-chain root",
    "bundle.delivery_root_invalid": "delivery report's root is not the root of its leaves",
    "offers.changed": "an FSP's offer set has its committed count but another root",
    "offers.added": "more offers (or an uncommitted FSP) than committed on-chain",
    "offers.dropped": "fewer offers than committed on-chain (or a committed FSP missing)",
    "receipts.root_not_committed": "a receipt's root is not the FSP's on-chain root",
    "receipts.proof_invalid": "a receipt's proof does not reach the on-chain root",
    "receipts.offer_missing": "an offer proven by a receipt is absent from the input bundle",
    "receipts.offer_changed": "an offer proven by a receipt differs in the input bundle",
    "clearing.input_hash_mismatch": "result names another input bundle",
    "clearing.orders_root_invalid": "result's orders root does not match its orders",
    "clearing.proof_invalid": "an FSP's order proof in the result does not verify",
    "clearing.rule_violation": "an order breaks its offer, price or budget bounds",
    "clearing.order_differs": "an order differs from the recomputed clearing",
    "clearing.result_differs": "a result field differs from the recomputed clearing",
    "clearing.solver_version_mismatch": "recomputation differs and the solver version differs",
    "clearing.recompute_failed": "the input bundle cannot be cleared again",
    "requests.unknown": "a request in the input bundle is not escrowed on-chain in this session",
    "requests.hash_mismatch": "a request body does not hash to its on-chain requestHash",
    "requests.budget_mismatch": "a request's budget differs from its on-chain escrow",
    "requests.cancelled": "a cancelled request was cleared",
    "requests.dropped": "an escrowed request is missing from the input bundle",
    "reservations.missing": "a payment cap has no on-chain reservation",
    "reservations.unexpected": "an on-chain reservation has no payment cap in the result",
    "reservations.amount_mismatch": "reservation amount != payment cap for (request, FSP)",
    "reservations.over_budget": "reservations of a request exceed its budget",
    "delivery.inputs_invalid": "the delivery bundle's inputs cannot be settled",
    "delivery.bad_signature": "a reading's signature is not by the station's registered key",
    "delivery.unknown_station": "a reading of a station absent from the registry was used",
    "delivery.unsigned_reading": "an unsigned reading was used although signatures are required",
    "delivery.report_differs": "the recomputed report differs from the published one",
    "delivery.root_mismatch": "recomputed report root != on-chain deliveryRoot",
    "delivery.payout_above_recomputed": "on-chain payout above the recomputed payout",
    "delivery.payout_below_recomputed": "on-chain payout below the recomputed payout",
    "delivery.reservations_mismatch": "delivery inputs' reservations differ from the chain",
    "delivery.budgets_mismatch": "delivery inputs' budgets differ from the chain",
    "delivery.window_mismatch": "delivery inputs' start or ISP length differ from the chain",
    "delivery.portfolio_not_registered": "a portfolio meter is not registered to that FSP",
    "money.payout_credit_mismatch": "credits to an FSP at finalization != its payouts",
    "money.refund_mismatch": "refund credited (or declared) != budget - payouts",
    "money.finalized_totals_mismatch": "SessionFinalized totals != payouts and refunds",
    "money.budget_changed": "a request's budget view differs from its RequestPosted budget",
    "money.payout_exceeds_budget": "payouts of a request exceed its budget",
    "money.balance_mismatch": "token balance of the market != escrowed + credited (events)",
    "money.escrow_total_mismatch": "totalEscrowed() != escrow derived from events",
    "money.credit_total_mismatch": "totalCredited() != credits derived from events",
    "money.netting_unbalanced": (
        "a netting period's positions do not sum to -fee or differ from settleNetting"
    ),
    "lifecycle.request_after_gate_closure": "a request was posted at or after gate closure",
    "lifecycle.offer_after_gate_closure": "an offer set was committed at or after gate closure",
    "lifecycle.closed_before_gate_closure": "the session closed before gate closure",
    "lifecycle.cleared_before_gate_closure": "clearing was posted before gate closure",
    "lifecycle.attested_before_delivery_end": "delivery attested before the delivery window ended",
    "lifecycle.finalized_in_window": "finalized before the challenge window ended",
    "lifecycle.missing_event": "a state was reached without its event",
}
MAX_LISTED = 12
_DERIVED = ("$.fsp_proofs", "$.orders_root", "$.input_hash")


@dataclass
class SessionBundles:
    """Raw and parsed bundles of one session (None where absent or unparseable)."""

    session_id: str | None
    input_bytes: bytes | None = None
    result_bytes: bytes | None = None
    delivery_bytes: bytes | None = None
    input: InputBundle | None = None
    result: ResultBundle | None = None
    delivery: dict[str, Any] | None = None
    parse_errors: dict[str, str] = field(default_factory=dict)

    def parse(self) -> None:
        if self.input_bytes is not None:
            try:
                self.input = InputBundle.model_validate_json(self.input_bytes)
            except ValidationError as exc:
                self.parse_errors["input"] = _first_error(exc)
        if self.result_bytes is not None:
            try:
                self.result = ResultBundle.model_validate_json(self.result_bytes)
            except ValidationError as exc:
                self.parse_errors["result"] = _first_error(exc)
        if self.delivery_bytes is not None:
            try:
                loaded = json.loads(self.delivery_bytes)
                if not isinstance(loaded, dict) or not {"inputs", "report"} <= set(loaded):
                    raise ValueError("needs 'inputs' and 'report'")
                self.delivery = loaded
            except ValueError as exc:
                self.parse_errors["delivery"] = str(exc)


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']} ({exc.error_count()} error(s))"


def _root(value: str) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x"))
    return raw if raw else bytes(32)


def _short(b: bytes) -> str:
    return hex32(b)[:12] + ".."


# ---------------------------------------------------------------- 1 bundle hashes


def check_bundle_hashes(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    res = CheckResult("bundle_hashes")
    roots = cs.roots
    for kind, err in sb.parse_errors.items():
        res.add("bundle.unparseable", f"{kind} bundle: {err}", kind)
    if sb.input_bytes is not None:
        digest = keccak256(sb.input_bytes)
        if digest != bytes(roots.input_hash):
            res.add(
                "bundle.input_hash_mismatch",
                f"keccak256(input bundle) {hex32(digest)} != on-chain {hex32(roots.input_hash)}",
                "input",
            )
    if sb.input is not None and uuid_to_bytes32(sb.input.session_id) != cs.session_id:
        res.add("bundle.session_mismatch", f"input names session {sb.input.session_id}", "input")
    r = sb.result
    if r is not None:
        if uuid_to_bytes32(r.session_id) != cs.session_id:
            res.add("bundle.session_mismatch", f"result names session {r.session_id}", "result")
        if _root(r.input_hash) != bytes(roots.input_hash):
            res.add(
                "bundle.result_input_hash_mismatch",
                f"result.input_hash {r.input_hash} != on-chain {hex32(roots.input_hash)}",
                "result",
            )
        if _root(r.orders_root) != bytes(roots.result_root):
            res.add(
                "bundle.result_root_mismatch",
                f"result.orders_root {r.orders_root} != on-chain {hex32(roots.result_root)}",
                "result",
            )
        leaves = [order_leaf(o) for o in r.orders]
        root = (
            hex32(StandardMerkleTree.of(leaves, ORDER_LEAF_ENCODING).root) if leaves else ZERO_ROOT
        )
        if root != r.orders_root:
            res.add(
                "bundle.result_root_invalid",
                f"the result's {len(leaves)} orders give root {root}, not {r.orders_root}",
                "result",
            )
    d = sb.delivery
    if d is not None:
        report = d["report"]
        try:
            root = report_root(report)
        except (SettlementError, ValueError) as exc:
            res.add("bundle.unparseable", f"delivery report: {exc}", "delivery")
        else:
            if _root(root) != bytes(roots.delivery_root):
                res.add(
                    "bundle.delivery_root_mismatch",
                    f"report leaves give {root} != on-chain {hex32(roots.delivery_root)}",
                    "delivery",
                )
            if root != report.get("root"):
                res.add(
                    "bundle.delivery_root_invalid",
                    f"report.root {report.get('root')} but its leaves give {root}",
                    "delivery",
                )
        sid = d.get("inputs", {}).get("session_id")
        if sid is not None and (not isinstance(sid, str) or _uuid32(sid) != cs.session_id):
            res.add("bundle.session_mismatch", f"delivery names session {sid}", "delivery")
    return res


def _uuid32(value: str) -> bytes | None:
    try:
        return uuid_to_bytes32(value)
    except ValueError:
        return None


# ---------------------------------------------------------------- 2 offers


def check_offers(
    cs: AuditedSession, sb: SessionBundles, receipts: list[Receipts] | None = None
) -> CheckResult:
    res = CheckResult("offers")
    if sb.input is None:
        return res.skip("no parsed input bundle")
    by_fsp: dict[str, list[FlexOffer]] = defaultdict(list)
    for offer in sb.input.offers:
        by_fsp[offer.fsp.lower()].append(offer)
    for fsp in sorted(set(by_fsp) | set(cs.commitments)):
        offers = by_fsp.get(fsp, [])
        committed = cs.commitments.get(fsp)
        if committed is None:
            res.add(
                "offers.added",
                f"{len(offers)} offer(s) of an FSP that committed nothing on-chain",
                fsp,
            )
            continue
        root = offers_root(offers)
        if root == committed.root and len(offers) == committed.count:
            continue
        if len(offers) > committed.count:
            code, what = "offers.added", f"{len(offers) - committed.count} more than committed"
        elif len(offers) < committed.count:
            code, what = "offers.dropped", f"{committed.count - len(offers)} fewer than committed"
        else:
            code, what = "offers.changed", "same count, different content"
        res.add(
            code,
            f"{len(offers)} offer(s) in the input bundle give root {_short(root)}, on-chain "
            f"{committed.count} offer(s) with root {_short(committed.root)}: {what}",
            fsp,
        )
    for rec in receipts or []:
        _check_receipts(cs, sb.input, rec, res)
    res.notes.append(
        f"{len(sb.input.offers)} offers of {len(by_fsp)} FSPs against {len(cs.commitments)} "
        "on-chain commitments"
    )
    return res


def _check_receipts(
    cs: AuditedSession, bundle: InputBundle, rec: Receipts, res: CheckResult
) -> None:
    committed = cs.commitments.get(rec.fsp)
    in_bundle = {o.offer_id: o for o in bundle.offers if o.fsp.lower() == rec.fsp}
    own = {}
    for body in rec.offers:
        offer = FlexOffer.model_validate(body)
        own[offer.offer_id] = offer
    for item in rec.receipts:
        offer_id = str(item["offer_id"])
        subject = f"{rec.fsp}/{offer_id}"
        root = _root(str(item["root"]))
        leaf = _root(str(item["leaf_hash"]))
        proof = [_root(str(p)) for p in item.get("proof", [])]
        if committed is None or root != committed.root:
            res.add(
                "receipts.root_not_committed",
                f"receipt root {_short(root)} is not on-chain",
                subject,
            )
            continue
        if process_proof(leaf, proof) != committed.root:
            res.add("receipts.proof_invalid", "proof does not reach the on-chain root", subject)
            continue
        if offer_id in own:
            mine = leaf_hash(
                OFFER_LEAF_ENCODING, offer_leaf(offer_id, own[offer_id].to_canonical())
            )
            if mine != leaf:
                res.add(
                    "receipts.proof_invalid", "the FSP's own offer is not the proven leaf", subject
                )
                continue
        published = in_bundle.get(offer_id)
        if published is None:
            res.add("receipts.offer_missing", "proven offer absent from the input bundle", subject)
            continue
        published_leaf = offer_leaf(offer_id, published.to_canonical())
        if leaf_hash(OFFER_LEAF_ENCODING, published_leaf) != leaf:
            res.add(
                "receipts.offer_changed",
                "the input bundle's version of this offer is not the committed one",
                subject,
            )


# ---------------------------------------------------------------- 3 clearing


def check_clearing(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    from clearing import verify
    from clearing.errors import ClearingError
    from clearing.solvers.highs import highs_version

    res = CheckResult("clearing")
    if sb.input is None or sb.result is None:
        return res.skip("input and result bundles needed")
    result = sb.result
    local = highs_version() if result.solver.name == "highs" else ""
    recorded = result.solver.version
    try:
        diffs = verify(sb.input, result)
    except ClearingError as exc:
        res.add("clearing.recompute_failed", str(exc))
        return res
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
    target = sb.input.rules.mip_gap_ppm
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


# ---------------------------------------------------------------- 4 reservations


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


# ---------------------------------------------------------------- 5 delivery


_READING_CODES = {
    "bad_signature": "delivery.bad_signature",
    "unknown_station": "delivery.unknown_station",
    "unsigned_reading": "delivery.unsigned_reading",
}


def check_delivery(
    cs: AuditedSession, sb: SessionBundles, registry: StationRegistry | None
) -> CheckResult:
    """Recompute the report from the signed readings and compare it with the chain."""
    res = CheckResult("delivery")
    if cs.chain.state < SessionState.VERIFIED:
        return res.skip("delivery not attested yet")
    if sb.delivery is None or sb.result is None:
        return res.skip("delivery and result bundles needed")
    if registry is None:
        return res.error("no station registry (stations.json, GET /assets or --station-keys)")
    bundle = sb.delivery
    try:
        inputs = DeliveryInputs.model_validate_json(canonical_json(bundle["inputs"]))
        rules = SettlementRules.model_validate(bundle["report"]["rules"])
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        res.add("delivery.inputs_invalid", f"cannot parse inputs or rules: {exc}")
        return res
    _check_delivery_inputs(cs, inputs, rules, registry, res)
    try:
        outcome = compute_delivery(inputs, list(sb.result.orders), rules, registry.keys)
    except (SettlementError, ValueError) as exc:
        res.add("delivery.inputs_invalid", f"cannot settle: {exc}")
        return res
    published = bundle["report"]
    disclosed = {
        (f.get("code"), f.get("subject"), f.get("timestamp"))
        for f in published.get("findings", [])
        if isinstance(f, dict)
    }
    for f in outcome.report.findings:
        code = _READING_CODES.get(f.code)
        if code and (f.code, f.subject, f.timestamp) not in disclosed:
            res.add(code, f"{f.detail} (at {f.timestamp}; not disclosed in the report)", f.subject)
    if outcome.report_bytes != canonical_json(published):
        diffs: list[str] = []
        _diff_paths("$", outcome.report.to_json_obj(), published, diffs)
        res.add(
            "delivery.report_differs",
            f"{len(diffs)} field(s) differ, first: {'; '.join(diffs[:3])}",
        )
    root = outcome.report.root
    if _root(root) != bytes(cs.roots.delivery_root):
        res.add(
            "delivery.root_mismatch",
            f"recomputed root {root} != on-chain {hex32(cs.roots.delivery_root)}",
        )
    vector = outcome.report.payout_vector()
    if len(vector) != len(cs.payouts):
        res.add(
            "delivery.reservations_mismatch",
            f"{len(vector)} recomputed payouts for {len(cs.payouts)} on-chain reservations",
        )
    for i, (mine, theirs) in enumerate(zip(vector, cs.payouts, strict=False)):
        if theirs == mine:
            continue
        r = cs.reservations[i]
        code = (
            "delivery.payout_above_recomputed"
            if theirs > mine
            else "delivery.payout_below_recomputed"
        )
        res.add(
            code,
            f"reservation {i}: on-chain payout {theirs}, recomputed {mine}",
            f"{hex32(r.request_id)}/{r.fsp.lower()}",
        )
    res.notes.append(
        f"{len(inputs.readings)} readings, {len(outcome.report.orders)} order settlements, "
        f"station keys from {registry.source}"
    )
    return res


def _check_delivery_inputs(
    cs: AuditedSession,
    inputs: DeliveryInputs,
    rules: SettlementRules,
    registry: StationRegistry,
    res: CheckResult,
) -> None:
    chain_res = [(bytes(r.request_id), r.fsp.lower(), r.amount) for r in cs.reservations]
    bundle_res = [
        (_uuid32(r.request_id), r.fsp.lower(), r.reserved_units) for r in inputs.reservations
    ]
    if chain_res != bundle_res:
        res.add(
            "delivery.reservations_mismatch",
            f"inputs list {len(bundle_res)} reservations that differ from the {len(chain_res)} "
            "on-chain ones (order, pair or amount)",
        )
    chain_budgets = {
        rid: cs.posted_budgets[rid] for rid, info in cs.requests.items() if not info.cancelled
    }
    bundle_budgets = {_uuid32(b.request_id): b.budget_units for b in inputs.budgets}
    if chain_budgets != bundle_budgets:
        res.add("delivery.budgets_mismatch", "inputs' budgets differ from the escrowed budgets")
    if inputs.session_start_ts != cs.chain.delivery_start or rules.isp_s != cs.chain.isp_seconds:
        res.add(
            "delivery.window_mismatch",
            f"inputs start {inputs.session_start_ts} / ISP {rules.isp_s} s, on-chain "
            f"{cs.chain.delivery_start} / {cs.chain.isp_seconds} s",
        )
    if registry.owners:
        for p in inputs.portfolios:
            for m in p.meters:
                owners = registry.owners.get(m.station, set())
                if p.fsp.lower() not in owners:
                    res.add(
                        "delivery.portfolio_not_registered",
                        f"meter {m.station}/{m.evse} is registered to {sorted(owners) or 'nobody'}",
                        f"{p.fsp}@{p.congestion_point}",
                    )


def _diff_paths(path: str, exp: Any, act: Any, out: list[str]) -> None:
    if isinstance(exp, dict) and isinstance(act, dict):
        for key in sorted(set(exp) | set(act)):
            _diff_paths(f"{path}.{key}", exp.get(key), act.get(key), out)
    elif isinstance(exp, list | tuple) and isinstance(act, list | tuple):
        if len(exp) != len(act):
            out.append(f"{path}: {len(exp)} items recomputed, {len(act)} published")
        for i, (e, a) in enumerate(zip(exp, act, strict=False)):
            _diff_paths(f"{path}[{i}]", e, a, out)
    elif exp != act:
        out.append(f"{path}: recomputed {exp!r}, published {act!r}")


# ---------------------------------------------------------------- 6 money (session)


def check_money(cs: AuditedSession, sb: SessionBundles) -> CheckResult:
    res = CheckResult("money")
    for rid, info in cs.requests.items():
        if info.budget != cs.posted_budgets.get(rid):
            res.add(
                "money.budget_changed",
                f"request() budget {info.budget}, "
                f"RequestPosted budget {cs.posted_budgets.get(rid)}",
                hex32(rid),
            )
    if cs.chain.state != SessionState.FINAL:
        if not res.findings:
            res.skip(f"session is {cs.chain.state.name}, not FINAL")
        return res
    paid_per_request: dict[bytes, int] = defaultdict(int)
    expected: dict[str, int] = defaultdict(int)
    fsps: set[str] = set()
    for r, p in zip(cs.reservations, cs.payouts, strict=True):
        paid_per_request[bytes(r.request_id)] += p
        expected[r.fsp.lower()] += p
        fsps.add(r.fsp.lower())
    refunds: dict[bytes, int] = {}
    for rid in cs.request_order:
        info = cs.requests[rid]
        if info.cancelled:
            continue
        budget = cs.posted_budgets[rid]
        paid = paid_per_request.get(rid, 0)
        if paid > budget:
            res.add("money.payout_exceeds_budget", f"payouts {paid} > budget {budget}", hex32(rid))
        refunds[rid] = budget - paid
        expected[info.dso.lower()] += budget - paid
    credited = credited_by_account(cs.credits)
    for account in sorted(set(expected) | set(credited)):
        want, got = expected.get(account, 0), credited.get(account, 0)
        if want == got:
            continue
        code = "money.payout_credit_mismatch" if account in fsps else "money.refund_mismatch"
        diff = got - want
        how = f"short by {-diff}" if diff < 0 else f"over by {diff}"
        res.add(code, f"credited {got} at finalization, expected {want} ({how} units)", account)
    final = cs.named("SessionFinalized")
    total_paid = sum(cs.payouts)
    total_refund = sum(refunds.values())
    if final:
        args = final[-1].args
        if int(args["totalPaid"]) != total_paid or int(args["totalRefunded"]) != total_refund:
            res.add(
                "money.finalized_totals_mismatch",
                f"SessionFinalized paid {args['totalPaid']} / refunded {args['totalRefunded']}, "
                f"expected {total_paid} / {total_refund}",
            )
    if sb.delivery is not None:
        for line in sb.delivery["report"].get("refunds", []):
            rid = _uuid32(str(line.get("request_id")))
            if rid in refunds and line.get("refund_units") != refunds[rid]:
                res.add(
                    "money.refund_mismatch",
                    f"report declares refund {line.get('refund_units')}, budget - payouts on-chain "
                    f"is {refunds[rid]}",
                    str(line.get("request_id")),
                )
    res.notes.append(f"paid {total_paid}, refunded {total_refund} (expected from the chain)")
    return res


def check_market_money(view: ChainView) -> list[CheckResult]:
    """Token balance vs escrow + credit, the contract's totals, each netting period."""
    res = CheckResult("money")
    budgets: dict[bytes, tuple[bytes, int]] = {}
    cancelled: set[bytes] = set()
    final: set[bytes] = set()
    credits = debits = withdrawn = 0
    nets = netting_txs(view.events)
    entries: dict[str, list[DecodedEvent]] = defaultdict(list)  # netting tx -> Credited/Debited
    nettings: list[DecodedEvent] = []
    for e in view.events:
        a = e.args
        if e.name == "RequestPosted":
            budgets[bytes(a["requestId"])] = (bytes(a["sessionId"]), int(a["budget"]))
        elif e.name == "RequestCancelled":
            cancelled.add(bytes(a["requestId"]))
        elif e.name == "SessionFinalized":
            final.add(bytes(a["sessionId"]))
        elif e.name == "Credited":
            credits += int(a["amount"])
        elif e.name == "Debited":
            debits += int(a["amount"])
        elif e.name == "Withdrawn":
            withdrawn += int(a["amount"])
        elif e.name == "NettingSettled":
            nettings.append(e)
        if is_netting_entry(e, nets):
            entries[e.tx_hash].append(e)
    escrowed = sum(
        b for rid, (sid, b) in budgets.items() if rid not in cancelled and sid not in final
    )
    # netting moves credit between members (credits - debits == 0 per period), so its entries
    # belong in the reconciliation like any other credit or debit
    credited = credits - debits - withdrawn
    if view.token_balance != escrowed + credited:
        res.add(
            "money.balance_mismatch",
            f"balanceOf(market) {view.token_balance} != escrowed {escrowed} + credited "
            f"{credited} = {escrowed + credited} (from events)",
            view.market.address,
        )
    if view.total_escrowed != escrowed:
        res.add(
            "money.escrow_total_mismatch",
            f"totalEscrowed() {view.total_escrowed}, events give {escrowed}",
            view.market.address,
        )
    if view.total_credited != credited:
        res.add(
            "money.credit_total_mismatch",
            f"totalCredited() {view.total_credited}, events give {credited}",
            view.market.address,
        )
    netted = 0
    for e in nettings:
        netted += _check_netting_period(res, e, entries[e.tx_hash], view.netting_inputs)
    res.notes.append(
        f"balance {view.token_balance} = escrowed {escrowed} + credited {credited}; "
        f"{len(nettings)} netting period(s) moving {netted} units; "
        f"events from block {view.from_block} to {view.to_block}"
    )
    return [res]


def _check_netting_period(
    res: CheckResult,
    settled: DecodedEvent,
    entries: list[DecodedEvent],
    inputs: dict[str, NettingInput],
) -> int:
    """One period: per-member credits - debits == the settled netAmounts, sum(net) + fee == 0.

    ``settleNetting`` debits, then credits members, then credits the fee to its recipient last,
    so the fee is the last Credited of the transaction; everything before it is members' net.
    Returns the units debited (the credit the period moved)."""
    period = bytes(settled.args["periodId"])
    subject = hex32(period)
    fee = int(settled.args["fee"])
    recipient = str(settled.args.get("feeRecipient", "")).lower()
    ordered = sorted(entries, key=lambda x: x.log_index)
    fee_seen = 0
    if fee and ordered:
        last = ordered[-1]
        if (
            last.name == "Credited"
            and int(last.args["amount"]) == fee
            and (not recipient or str(last.args["account"]).lower() == recipient)
        ):
            fee_seen = fee
            ordered = ordered[:-1]
    if fee_seen != fee:
        res.add(
            "money.netting_unbalanced",
            f"NettingSettled fee {fee}, but no fee credit of {fee} to {recipient or '?'}",
            subject,
        )
    net: dict[str, int] = defaultdict(int)
    for x in ordered:
        sign = 1 if x.name == "Credited" else -1
        net[str(x.args["account"]).lower()] += sign * int(x.args["amount"])
    total = sum(net.values())
    if total + fee != 0:
        res.add(
            "money.netting_unbalanced",
            f"members' net positions sum to {total}, fee {fee}: sum + fee is {total + fee}, not 0",
            subject,
        )
    declared = inputs.get(settled.tx_hash)
    if declared is not None:
        want: dict[str, int] = defaultdict(int)
        for m, amount in zip(declared.members, declared.net_amounts, strict=True):
            want[m] += amount
        if declared.period_id != period or declared.fee != fee:
            res.add(
                "money.netting_unbalanced",
                f"settleNetting input period {hex32(declared.period_id)} fee {declared.fee}, "
                f"NettingSettled says fee {fee}",
                subject,
            )
        if sum(declared.net_amounts) + declared.fee != 0:
            res.add(
                "money.netting_unbalanced",
                f"settleNetting netAmounts sum to {sum(declared.net_amounts)}, fee "
                f"{declared.fee}: not zero",
                subject,
            )
        for account in sorted(set(want) | set(net)):
            if want.get(account, 0) != net.get(account, 0):
                res.add(
                    "money.netting_unbalanced",
                    f"{account}: credits - debits {net.get(account, 0)} in the period, "
                    f"settleNetting net amount {want.get(account, 0)}",
                    subject,
                )
    return sum(-v for v in net.values() if v < 0)


# ---------------------------------------------------------------- 7 lifecycle


def check_lifecycle(cs: AuditedSession, view: ChainView) -> CheckResult:
    res = CheckResult("lifecycle")
    info = cs.chain
    gate = info.gate_closure

    def each(name: str, code: str, ok: Any, what: str) -> None:
        for e in cs.named(name):
            t = view.ts(e)
            if not ok(t, e):
                res.add(code, f"{name} in block {e.block_number} at {t}: {what}", e.tx_hash)

    each(
        "RequestPosted",
        "lifecycle.request_after_gate_closure",
        lambda t, e: t < gate,
        f"gate closure {gate}",
    )
    each(
        "OffersCommitted",
        "lifecycle.offer_after_gate_closure",
        lambda t, e: t < gate,
        f"gate closure {gate}",
    )
    each(
        "SessionClosed",
        "lifecycle.closed_before_gate_closure",
        lambda t, e: t >= gate,
        f"gate closure {gate}",
    )
    each(
        "ClearingPosted",
        "lifecycle.cleared_before_gate_closure",
        lambda t, e: t >= gate,
        f"gate closure {gate}",
    )
    each(
        "DeliveryAttested",
        "lifecycle.attested_before_delivery_end",
        lambda t, e: t >= info.delivery_end,
        f"delivery ends {info.delivery_end}",
    )
    attested = cs.named("DeliveryAttested")
    resolved = cs.named("DisputeResolved")
    for e in cs.named("SessionFinalized"):
        t = view.ts(e)
        if resolved:
            continue  # the arbiter's resolve finalizes at once
        if not attested:
            res.add("lifecycle.missing_event", "finalized without DeliveryAttested", e.tx_hash)
            continue
        deadline = view.ts(attested[-1]) + info.challenge_window
        if t < deadline:
            res.add(
                "lifecycle.finalized_in_window",
                f"finalized at {t}, challenge window ends {deadline}",
                e.tx_hash,
            )
    needed = {
        SessionState.CLEARED: "ClearingPosted",
        SessionState.VERIFIED: "DeliveryAttested",
        SessionState.FINAL: "SessionFinalized",
    }
    for state, name in needed.items():
        if info.state >= state and info.state != SessionState.DISPUTED and not cs.named(name):
            if state == SessionState.VERIFIED and resolved:
                continue
            res.add("lifecycle.missing_event", f"state {info.state.name} but no {name} event")
    return res
