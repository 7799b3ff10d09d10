"""Check 5: the delivery report recomputes from signed readings and matches the payouts."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from adapters.chain.types import SessionState
from clearing.encoding import canonical_json, hex32
from clearing.settlement.delivery import DeliveryInputs, compute_delivery
from clearing.settlement.rules import SettlementError, SettlementRules
from market.audit.chain_view import (
    AuditedSession,
)
from market.audit.check_terms import committed_terms_of
from market.audit.findings import CheckResult
from market.audit.registry import StationRegistry
from market.audit.session_bundles import SessionBundles, root_bytes, uuid32

_READING_CODES = {
    "bad_signature": "delivery.bad_signature",
    "unknown_station": "delivery.unknown_station",
    "unsigned_reading": "delivery.unsigned_reading",
}


SETTLE_ERRORS = (SettlementError, ValueError, TypeError, KeyError, ArithmeticError)


def no_registry(res: CheckResult, registry_error: str | None) -> CheckResult:
    """The check cannot run without station keys: say why, with its code."""
    if registry_error:
        return res.error(f"station registry unreadable: {registry_error}", "registry.unreadable")
    return res.error(
        "no station registry (stations.json, GET /assets or --station-keys)", "registry.missing"
    )


def parse_delivery(
    bundle: dict[str, Any], res: CheckResult, code: str
) -> tuple[DeliveryInputs, SettlementRules] | None:
    """The bundle's inputs and its report's rules; None (and a ``code`` finding) if malformed."""
    try:
        inputs = DeliveryInputs.model_validate_json(canonical_json(bundle["inputs"]))
        rules = SettlementRules.model_validate(bundle["report"]["rules"])
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        res.add(code, f"cannot parse inputs or rules: {exc}")
        return None
    return inputs, rules


def check_registry_use(
    inputs: DeliveryInputs, registry: StationRegistry, res: CheckResult, gate_closure: int
) -> dict[str, str]:
    """Stations the inputs use whose registry entry is unreadable or has two keys, or whose
    key the CPO did not register on-chain before ``gate_closure``; portfolio meters not
    granted to their FSP. Returns the keys to verify the readings with."""
    used = {m.station for p in inputs.portfolios for m in p.meters}
    used |= {r.station for r in inputs.readings}
    for code, message, station in registry.trouble(used):
        res.add(code, message, station)
    if registry.cpo is not None:
        for code, message, subject in (
            *registry.cpo.trouble(used, registry.keys, registry.source, gate_closure),
            *registry.cpo.grant_trouble(inputs.portfolios, gate_closure),
        ):
            res.add(code, message, subject)
    return registry.keys_for(used)


def check_delivery(
    cs: AuditedSession,
    sb: SessionBundles,
    registry: StationRegistry | None,
    registry_error: str | None = None,
) -> CheckResult:
    """Recompute the report from the signed readings and compare it with the attestation."""
    res = CheckResult("delivery")
    if cs.chain.state < SessionState.VERIFIED:
        return res.skip("delivery not attested yet")
    if not cs.named("DeliveryAttested") and cs.named("SessionRefundedStuck"):
        return res.skip("never attested: the escrow was released by refundStuck")
    if sb.delivery is None or sb.result is None:
        return res.skip("delivery and result bundles needed")
    if registry is None:
        return no_registry(res, registry_error)
    bundle = sb.delivery
    parsed = parse_delivery(bundle, res, "delivery.inputs_invalid")
    if parsed is None:
        return res
    inputs, rules = parsed
    terms = committed_terms_of(cs, sb)
    if terms is not None:  # recompute under the committed rules (check_terms names a swap)
        rules = terms.settlement
    _check_delivery_inputs(cs, inputs, rules, registry, res)
    keys = check_registry_use(inputs, registry, res, cs.chain.gate_closure)
    try:
        outcome = compute_delivery(inputs, list(sb.result.orders), rules, keys)
    except SETTLE_ERRORS as exc:
        res.add("delivery.inputs_invalid", f"cannot settle: {exc!r}")
        return res
    published = bundle["report"]
    listed = published.get("findings")
    disclosed = {
        (f.get("code"), f.get("subject"), f.get("timestamp"))
        for f in (listed if isinstance(listed, list) else [])
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
    elif outcome.bundle_bytes != canonical_json(bundle):
        diffs = []
        _diff_paths("$", json.loads(outcome.bundle_bytes), bundle, diffs)
        res.add(
            "delivery.bundle_differs",
            f"outside the report, {len(diffs)} field(s) differ: {'; '.join(diffs[:3])}",
        )
    root = outcome.report.root
    attested_root, attested_payouts = cs.attested()  # a resolution is check_dispute's
    if root_bytes(root) != bytes(attested_root):
        res.add(
            "delivery.root_mismatch",
            f"recomputed root {root} != on-chain {hex32(attested_root)}",
        )
    vector = outcome.report.payout_vector()
    if len(vector) != len(attested_payouts):
        res.add(
            "delivery.reservations_mismatch",
            f"{len(vector)} recomputed payouts for {len(attested_payouts)} on-chain reservations",
        )
    for i, (mine, theirs) in enumerate(zip(vector, attested_payouts, strict=False)):
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
        f"station keys from {'the CPO registry on-chain' if registry.cpo else registry.source}"
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
    if not registry.owners:
        # With the chain read, the CPOs' grants decide whose meters these are
        # (check_registry_use); without it, nothing would.
        if registry.cpo is None and inputs.portfolios:
            res.error(
                f"{registry.source} names no station owners: whose meters the portfolios "
                "hold is not checked",
                "registry.no_owners",
            )
    else:
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
