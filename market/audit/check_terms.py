"""Check 0: the session ran under the terms it committed on-chain at creation.

Why: an operator in control of every bundle from the start can publish documents that agree
with each other and with the chain's hashes while choosing the rules after the fact.  The
terms hash is fixed by ``createSession`` before any offer, so the auditor checks that the
published terms are its preimage, that the chain's schedule is theirs, and that the input
bundle and the delivery report use exactly them (the clearing and delivery checks then
recompute under the committed terms, not under what the bundles say).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from clearing.bundle import InputBundle
from clearing.encoding import hex32, uuid_to_bytes32
from clearing.settlement.rules import SettlementRules
from clearing.terms import SessionTerms
from market.audit.chain_view import AuditedSession, ChainView
from market.audit.findings import CheckResult
from market.audit.session_bundles import SessionBundles

__all__ = ["check_terms", "committed_terms_of"]


def committed_terms_of(cs: AuditedSession, sb: SessionBundles) -> SessionTerms | None:
    """The terms the recomputations use: a published preimage of the on-chain termsHash (the
    input bundle's, else the terms bundle); None when no published terms hash to it."""
    for terms in (sb.input.terms if sb.input is not None else None, _terms_bundle(sb)):
        if terms is not None and terms.terms_hash() == bytes(cs.chain.terms_hash):
            return terms
    return None


def _terms_bundle(sb: SessionBundles) -> SessionTerms | None:
    if sb.terms_bytes is None:
        return None
    try:
        return SessionTerms.model_validate_json(sb.terms_bytes)
    except ValidationError:
        return None


def check_terms(
    cs: AuditedSession, sb: SessionBundles, view: ChainView | None = None
) -> CheckResult:
    res = CheckResult("terms")
    committed = bytes(cs.chain.terms_hash)
    if committed == bytes(32):
        res.add("terms.not_committed", "createSession anchored no terms hash (zero)")
    preimages: list[tuple[str, SessionTerms]] = []
    if sb.input is not None:
        if sb.input.terms is None:
            res.add("terms.missing", "the input bundle carries no session terms", "input")
        else:
            preimages.append(("input", sb.input.terms))
    if sb.terms_bytes is not None:
        try:
            preimages.append(("terms", SessionTerms.model_validate_json(sb.terms_bytes)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            res.add("bundle.unparseable", f"terms bundle: {where}: {first['msg']}", "terms")
    if not preimages:
        if sb.input is None:
            return res if res.findings else res.skip("no terms published yet")
        return res
    for where, t in preimages:
        if t.terms_hash() != committed:
            res.add(
                "terms.hash_mismatch",
                f"keccak256 of the {where} bundle's terms {hex32(t.terms_hash())} != on-chain "
                f"termsHash {hex32(committed)}",
                where,
            )
    terms = preimages[0][1]
    _check_schedule(cs, terms, res)
    if view is not None:
        grace_ends = terms.delivery_end + terms.meter_grace_s
        for attested in cs.named("DeliveryAttested"):
            if view.ts(attested) < grace_ends:
                res.add(
                    "terms.attested_before_grace",
                    f"attested at {view.ts(attested)}, before the committed meter grace ends at "
                    f"{grace_ends}: readings still due could not count",
                    attested.tx_hash,
                )
    for field, why in terms.problems():
        res.add("terms.out_of_bounds", f"{field}: {why}", field)
    paid = sum(cs.attested()[1]) + sum(cs.payouts)
    if not terms.settlement.require_signatures and paid > 0:
        # committed openly from the start: hash and preimage agree, yet unsigned readings
        # (which anyone could fabricate) may count as delivery
        res.add(
            "terms.signatures_not_required",
            f"delivery paid {paid} units under committed rules that count unsigned readings",
            "settlement.require_signatures",
        )
    if sb.input is not None:
        _check_input(sb.input, terms, res)
    if sb.delivery is not None:
        _check_delivery_rules(sb.delivery, terms, res)
    return res


def _check_schedule(cs: AuditedSession, t: SessionTerms, res: CheckResult) -> None:
    info = cs.chain
    if uuid_to_bytes32(t.session_id) != cs.session_id:
        res.add("terms.schedule_mismatch", f"the terms name session {t.session_id}", "session_id")
    pairs = {
        "gate_closure": (t.gate_closure, info.gate_closure),
        "delivery_start": (t.delivery_start, info.delivery_start),
        "delivery_end": (t.delivery_end, info.delivery_end),
        "isp_s": (t.isp_s, info.isp_s),
        "challenge_window_s": (t.challenge_window_s, info.challenge_window),
    }
    for field, (mine, chain) in pairs.items():
        if mine != chain:
            res.add("terms.schedule_mismatch", f"terms say {mine}, the chain {chain}", field)


def _check_input(b: InputBundle, t: SessionTerms, res: CheckResult) -> None:
    window = {
        "isp_s": (b.isp_s, t.isp_s),
        "start_time": (b.start_time, t.delivery_start),
        "isp_count": (b.isp_count, t.isp_count),
    }
    for field, (in_bundle, in_terms) in window.items():
        if in_bundle != in_terms:
            res.add(
                "terms.window_swapped", f"input bundle {in_bundle}, committed {in_terms}", field
            )
    if b.rules.pricing_rule != t.pricing_rule:
        res.add(
            "terms.pricing_rule_swapped",
            f"cleared {b.rules.pricing_rule}, committed {t.pricing_rule}",
            "pricing_rule",
        )
    solver: dict[str, tuple[object, object]] = {
        "mip_gap_ppm": (b.rules.mip_gap_ppm, t.solver.mip_gap_ppm),
        "time_limit_s": (b.rules.time_limit_s, t.solver.time_limit_s),
        "solver.name": (b.rules.solver.name, t.solver.name),
    }
    for field, (ran, fixed) in solver.items():
        if ran != fixed:
            res.add("terms.solver_swapped", f"input bundle {ran!r}, committed {fixed!r}", field)
    if b.congestion_points != t.congestion_points:
        used = {c.code: c for c in b.congestion_points}
        fixed = {c.code: c for c in t.congestion_points}
        for code in sorted(set(used) | set(fixed)):
            if used.get(code) != fixed.get(code):
                res.add(
                    "terms.grid_swapped",
                    f"congestion point {code}: input bundle {_cp(used.get(code))}, "
                    f"committed {_cp(fixed.get(code))}",
                    code,
                )


def _cp(value: Any) -> str:
    return "absent" if value is None else repr(value.model_dump(mode="python"))


def _check_delivery_rules(bundle: dict[str, Any], t: SessionTerms, res: CheckResult) -> None:
    """The delivery report's rules (what the oracle settled under) against the committed."""
    report = bundle.get("report")
    raw = report.get("rules") if isinstance(report, dict) else None
    try:
        used = SettlementRules.model_validate(raw).to_json_obj()
    except (ValidationError, ValueError, TypeError):
        return  # the delivery check names an unreadable report
    fixed = t.settlement.to_json_obj()
    for field in sorted(set(used) | set(fixed)):
        if used.get(field) != fixed.get(field):
            res.add(
                "terms.delivery_rules_swapped",
                f"attested under {field}={used.get(field)!r}, committed {fixed.get(field)!r}",
                field,
            )
    inputs = bundle.get("inputs")
    start = inputs.get("session_start_ts") if isinstance(inputs, dict) else None
    if start != t.delivery_start:
        res.add(
            "terms.window_swapped",
            f"delivery inputs start {start}, committed {t.delivery_start}",
            "session_start_ts",
        )
