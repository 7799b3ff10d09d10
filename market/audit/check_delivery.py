"""Check 5: the delivery report recomputes from signed readings and matches the payouts."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from adapters.chain.types import SessionState
from clearing.encoding import canonical_json, hex32
from clearing.settlement.delivery import DeliveryInputs, compute_delivery
from clearing.settlement.rules import SettlementError, SettlementRules
from market.audit.chain_view import (
    AuditedSession,
)
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles, root_bytes, uuid32
from market.audit.sources import StationRegistry

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
    if not cs.named("DeliveryAttested") and cs.named("SessionRefundedStuck"):
        return res.skip("never attested: the escrow was released by refundStuck")
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
    if root_bytes(root) != bytes(cs.roots.delivery_root):
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
        (uuid32(r.request_id), r.fsp.lower(), r.reserved_units) for r in inputs.reservations
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
    bundle_budgets = {uuid32(b.request_id): b.budget_units for b in inputs.budgets}
    if chain_budgets != bundle_budgets:
        res.add("delivery.budgets_mismatch", "inputs' budgets differ from the escrowed budgets")
    if inputs.session_start_ts != cs.chain.delivery_start or rules.isp_s != cs.chain.isp_s:
        res.add(
            "delivery.window_mismatch",
            f"inputs start {inputs.session_start_ts} / ISP {rules.isp_s} s, on-chain "
            f"{cs.chain.delivery_start} / {cs.chain.isp_s} s",
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
