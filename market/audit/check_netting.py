"""Check: a session's netting is the recomputation of its published, signed inputs.

``settleNetting`` only bounds a netting (session parties, conserved value, fee cap); within
those bounds a clearing house could still move money among the parties or pick the contracts.
So the auditor recomputes ``settle_period`` - the function the service nets with - from the
report the money followed (the attested or the arbiter's) and the ``netting`` bundle's signed
contracts and contributions, and compares it with the ``settleNetting`` calldata. The
contributions must be exactly the rows their FSPs signed and the contracts exactly those the
FSPs' committed contract sets select (``netting_inputs``).
"""

from __future__ import annotations

from pydantic import ValidationError

from clearing.encoding import canonical_json, hex32
from clearing.settlement.delivery import DeliveryReport
from clearing.settlement.report import Portfolio
from clearing.settlement.rules import SettlementError
from market.audit.chain_view import AuditedSession, ChainView, net_positions
from market.audit.findings import CheckResult
from market.audit.netting_inputs import (
    check_contract_sets,
    check_contribution_envelopes,
    check_dropped_rows,
)
from market.audit.session_bundles import SessionBundles, uuid32
from market.auth.eip712 import Domain
from market.clearing_house.netting_bundle import NettingBundle
from market.clearing_house.period import settle_period


def netting_tx(cs: AuditedSession, view: ChainView) -> str | None:
    """The transaction of the session's ``NettingSettled`` (its period id is the session's)."""
    for e in view.events:
        if e.name == "NettingSettled" and bytes(e.args["periodId"]) == cs.session_id:
            return e.tx_hash
    return None


def check_netting(
    cs: AuditedSession,
    sb: SessionBundles,
    view: ChainView,
    raw: bytes | None,
    domain: tuple[int, str],
) -> CheckResult:
    res = CheckResult("netting")
    tx = netting_tx(cs, view)
    if tx is None:
        return res.skip("no settleNetting for this session")
    if raw is None:
        res.add(
            "netting.not_recomputable",
            f"settleNetting in {tx} but no netting bundle is published: nothing shows what the "
            "amounts were computed from",
        )
        return res
    try:
        bundle = NettingBundle.model_validate_json(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(x) for x in e["loc"])
        return res.error(
            f"netting bundle: {where}: {e['msg']} ({exc.error_count()} error(s))",
            "netting.bundle_malformed",
        )
    followed = sb.resolution if cs.resolved else sb.delivery
    if followed is None or sb.delivery is None:
        return res.error("no readable delivery report to recompute from", "audit.could_not_run")
    report = DeliveryReport.model_validate_json(canonical_json(followed["report"]))
    try:
        portfolios = [
            Portfolio.model_validate_json(canonical_json(p))
            for p in sb.delivery["inputs"].get("portfolios", [])
        ]
    except (ValidationError, TypeError, KeyError) as exc:
        return res.error(f"delivery portfolios: {exc}"[:300], "audit.could_not_run")
    chain_id, market = domain
    if (bundle.session_id, bundle.chain_id) != (sb.session_id, chain_id) or (
        bundle.verifying_contract.lower() != market.lower()
        or bundle.period_id != hex32(cs.session_id)
        or bundle.at_ts != cs.chain.delivery_start
    ):
        res.add(
            "netting.bundle_mismatch",
            f"bundle names session {bundle.session_id} period {bundle.period_id} at "
            f"{bundle.at_ts} on chain {bundle.chain_id} / {bundle.verifying_contract}; audited: "
            f"{sb.session_id} {hex32(cs.session_id)} at {cs.chain.delivery_start} on "
            f"{chain_id} / {market}",
        )
    _check_contracts(res, bundle, chain_id, market)
    signed_rows = check_contribution_envelopes(
        res,
        bundle.contribution_envelopes,
        bundle.contributions,
        session_id=sb.session_id or bundle.session_id,
        domain=Domain(chain_id, market),
        gate_closure=cs.chain.gate_closure,
    )
    signed_pairs = {(row[1], row[2]) for row in signed_rows}
    covered = check_contract_sets(res, bundle, cs, portfolios, signed_pairs)
    check_dropped_rows(res, signed_rows, bundle.contributions, covered)
    if res.findings:
        return res
    declared = view.netting_inputs.get(tx)
    if declared is None:
        return res.error(f"settleNetting input of {tx} not decodable", "audit.could_not_run")
    named = {line.request_id for line in report.payouts} | {o.request_id for o in report.orders}
    dso_of = {
        rid: cs.requests[key].dso.lower()
        for rid in named
        if (key := uuid32(rid)) is not None and key in cs.requests
    }
    try:
        period = settle_period(
            period=bundle.session_id,
            reports=[report],
            dso_of_request=dso_of,
            contributions=bundle.contributions,
            contracts=bundle.contracts,
            fee_recipient=bundle.fee_recipient,
            chain_id=chain_id,
            verifying_contract=market,
            at_ts=cs.chain.delivery_start,
        )
    except SettlementError as exc:
        res.add("netting.mismatch", f"the published inputs cannot be netted: {exc}")
        return res
    _period, members, amounts, fee, recipient = period.onchain.settle_netting_args()
    want = net_positions([m.lower() for m in members], amounts, fee, recipient.lower())
    got = net_positions(
        declared.members, declared.net_amounts, declared.fee, declared.fee_recipient
    )
    published = net_positions(
        list(bundle.netted.members),
        list(bundle.netted.net_amounts),
        bundle.netted.fee_units,
        bundle.fee_recipient,
    )
    for account in sorted(set(want) | set(got)):
        if want.get(account, 0) != got.get(account, 0):
            res.add(
                "netting.mismatch",
                f"settleNetting gives {got.get(account, 0)}, the recomputation from the "
                f"published contracts and contributions gives {want.get(account, 0)}",
                account,
            )
    if published != got:
        res.add("netting.mismatch", "the bundle's netted amounts differ from settleNetting", tx)
    res.notes.append(
        f"recomputed from {len(bundle.contracts)} contract(s), "
        f"{len(bundle.contributions)} contribution(s): {len(want)} position(s), fee {fee}"
    )
    return res


def _check_contracts(res: CheckResult, bundle: NettingBundle, chain_id: int, market: str) -> None:
    """Every contract binds all its parties (signed by each, or an instance of a template its
    signers signed, on its terms), valid at the session, one per (FSP, user)."""
    seen: dict[tuple[str, str], str] = {}
    for signed in bundle.contracts:
        c = signed.contract
        problems = signed.problems(chain_id=chain_id, verifying_contract=market)
        unsigned = [f"{f}: {r}" for f, r in problems if "signatures" in f]
        if unsigned:
            res.add("netting.contract_unsigned", "; ".join(unsigned), c.contract_id)
        if off := [f"{f}: {r}" for f, r in problems if "signatures" not in f]:
            res.add("netting.contract_template", "; ".join(off), c.contract_id)
        if not c.active_at(bundle.at_ts):
            res.add(
                "netting.contract_not_valid",
                f"valid [{c.valid_from}, {c.valid_until}), the session starts at {bundle.at_ts}",
                c.contract_id,
            )
        pair = (c.fsp, c.ev_user)
        if pair in seen:
            res.add(
                "netting.contract_ambiguous",
                f"{seen[pair]} and {c.contract_id} both bind {c.fsp} and {c.ev_user}",
                c.contract_id,
            )
        seen[pair] = c.contract_id
