"""The clearing house as it runs in the service: dispute resolution and per-session netting.

Why here and not in the worker: both are money paths an operator may also run by hand
(``flexmarket arbiter resolve SESSION``, ``flexmarket clearing settle SESSION``); the worker
calls the same functions.  Each reads the chain first, so calling twice never posts twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from adapters.chain.market_lists import ZERO32
from adapters.chain.types import SessionState
from clearing.encoding import canonical_json, hex32, uuid_to_bytes32
from clearing.settlement.delivery import DeliveryReport, recompute_with_evidence
from clearing.settlement.meter import SignedMeterReading
from clearing.settlement.netting import netting_period_id
from clearing.settlement.revenue import UserContribution
from market.bundles import BundleStore
from market.clearing_house import contributions as contribution_store
from market.clearing_house import store
from market.clearing_house.netting_bundle import (
    CommittedContracts,
    ContributionsEnvelope,
    NettedAmounts,
    NettingBundle,
    applicable_contracts,
    covered_contributions,
)
from market.clearing_house.period import PeriodSettlement, SignedContract, settle_period
from market.clearing_house.receivables import (
    chain_receivables,
    netting_intent,
    netting_tx,
    repay_outstanding,
)
from market.errors import Conflict, NotFound
from market.ledger import Ledger
from market.lifecycle.terms import committed_terms
from market.lifecycle.verification import load_orders, report_of_bundle, station_keys
from market.store import models as m

log = logging.getLogger("flexmarket.clearing_house")

__all__ = ["final_report", "resolve_dispute", "session_period", "settle_session"]


def _state(ledger: Ledger, session_id: str) -> SessionState:
    return ledger.session(session_id).state


def evidence_readings(engine: Engine, session_id: str) -> list[SignedMeterReading]:
    """Every signed reading posted as dispute evidence for the session."""
    out: list[SignedMeterReading] = []
    for item in store.load_evidence(engine, session_id):
        out += [SignedMeterReading.model_validate(r) for r in item["body"].get("readings", [])]
    return out


def resolve_dispute(
    *,
    engine: Engine,
    ledger: Ledger,
    bundles: BundleStore,
    session_id: str,
    arbiter: str,
) -> dict[str, Any]:
    """Recompute the delivery with the posted evidence and ``resolve`` on-chain.

    The rules are the session's committed terms' (for a session opened before terms existed,
    the published bundle's own: the ones the attestation used).

    Refuses (Conflict) unless the session is DISPUTED on-chain; a session the arbiter already
    resolved is reported, not resolved again.
    """
    state = _state(ledger, session_id)
    saved = store.load_resolution(engine, session_id)
    if state == SessionState.FINAL and saved is not None:
        return {"action": "already_resolved", **_public(saved)}
    if state != SessionState.DISPUTED:
        raise Conflict(
            f"session {session_id} is {state.name} on-chain, not DISPUTED", field="session_id"
        )
    published = bundles.get(session_id, "delivery")
    terms = committed_terms(bundles, session_id)
    outcome = recompute_with_evidence(
        published,
        evidence_readings(engine, session_id),
        load_orders(engine, session_id),
        terms.settlement if terms is not None else report_of_bundle(published).rules,
        station_keys(engine),
    )
    payouts = outcome.report.payout_vector()
    tx = ledger.market.resolve(
        uuid_to_bytes32(session_id),
        bytes.fromhex(outcome.report.root.removeprefix("0x")),
        payouts,
        sender=arbiter,
    )
    store.save_resolution(
        engine,
        session_id=session_id,
        corrected_root=outcome.report.root,
        bundle=outcome.bundle_bytes,
        tx_hash=tx.tx_hash,
    )
    saved = store.load_resolution(engine, session_id)
    assert saved is not None
    return {"action": "resolved", "payouts": payouts, **_public(saved)}


def _public(saved: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": saved["session_id"],
        "corrected_root": saved["corrected_root"],
        "tx_hash": saved["tx_hash"],
    }


def final_report(engine: Engine, bundles: BundleStore, session_id: str) -> DeliveryReport:
    """The report the money followed: the arbiter's when resolved, else the attested one."""
    saved = store.load_resolution(engine, session_id)
    if saved is not None:
        return report_of_bundle(saved["bundle"])
    return report_of_bundle(bundles.get(session_id, "delivery"))


def committed_contract_sets(
    engine: Engine, bundles: BundleStore, session_id: str
) -> dict[str, list[SignedContract]] | None:
    """Per FSP that committed to the session, the signed contracts of the set its commitment
    bound (the delivery bundle's ``contract_sets``: the roots the oracle found folded into the
    portfolio hashes); None for a bundle from before contract sets were committed."""
    try:
        inputs = json.loads(bundles.get(session_id, "delivery"))["inputs"]
    except NotFound:
        return None
    if "contract_sets" not in inputs:
        return None
    out: dict[str, list[SignedContract]] = {}
    for ref in inputs["contract_sets"]:
        fsp, root = str(ref["fsp"]), bytes.fromhex(str(ref["root"])[2:])
        found = store.load_contract_set(engine, fsp, root)
        if found is None:
            raise Conflict(
                f"session {session_id}: {fsp} committed contract set {ref['root']}, which the "
                "store never held",
                field="session_id",
            )
        out[fsp] = found
    return out


def _contracts(engine: Engine, bundles: BundleStore, session_id: str) -> list[SignedContract]:
    """The contracts a netting may apply: the committed sets' (all stored ones for a session
    verified before sets were committed)."""
    sets = committed_contract_sets(engine, bundles, session_id)
    if sets is None:
        return store.load_contracts(engine)
    return sorted((c for cs in sets.values() for c in cs), key=lambda c: c.contract.contract_id)


def _at_ts(engine: Engine, session_id: str) -> int:
    """When the session's contracts must be valid: its delivery start."""
    with Session(engine) as db:
        s = db.get(m.MarketSession, session_id)
    return s.delivery_start if s is not None else 0


def session_period(
    *,
    engine: Engine,
    ledger: Ledger,
    bundles: BundleStore,
    session_id: str,
    fee_recipient: str,
    contributions: Sequence[UserContribution] | None = None,
    contracts: Sequence[SignedContract] | None = None,
) -> PeriodSettlement:
    """The session's period computed off-chain (nothing is sent): what ``settle_session`` nets.

    Contributions and contracts default to the store's; a caller that has not posted them
    (a replay run without on-chain netting) passes its own to see the same computation.
    """
    try:
        report = final_report(engine, bundles, session_id)
    except NotFound as exc:
        raise Conflict(f"session {session_id} has no delivery bundle", field="session_id") from exc
    with Session(engine) as db:
        dso_of = {
            r.id: r.dso.lower()
            for r in db.exec(
                select(m.FlexRequestRow).where(m.FlexRequestRow.session_id == session_id)
            )
        }
    at_ts = _at_ts(engine, session_id)
    if contributions is None:
        contributions = contribution_store.netting_inputs_of(engine, session_id).contributions
    if contracts is None:
        contracts = applicable_contracts(
            _contracts(engine, bundles, session_id), contributions, at_ts
        )
    contributions = covered_contributions(contributions, contracts)
    return settle_period(
        period=session_id,
        reports=[report],
        dso_of_request=dso_of,
        contributions=contributions,
        contracts=contracts,
        fee_recipient=fee_recipient,
        chain_id=ledger.chain_id,
        verifying_contract=ledger.market_address,
        at_ts=at_ts,
    )


def _require_parties(
    ledger: Ledger,
    session_id: bytes,
    members: Sequence[str],
    amounts: Sequence[int],
    fee_recipient: str | None,
) -> None:
    """Only FSPs that committed offers to the session are debited, and every other member (and
    the fee recipient) was named with ``nameNettingPayees`` by one of the FSPs debited. The
    contract refuses anything else (``FlexMarketNettingDebitNotFsp``,
    ``FlexMarketNotNettingParty``), so say who before sending.
    """
    market = ledger.market
    fsps = [m for m in members if market.offer_root(session_id, m) != ZERO32]
    payers = [m for m, x in zip(members, amounts, strict=True) if x < 0 and m in fsps]
    debited = [m for m, x in zip(members, amounts, strict=True) if x < 0 and m not in fsps]
    if debited:
        raise Conflict(
            f"session 0x{session_id.hex()}: netting debits accounts that are no FSP of the "
            f"session: {', '.join(debited)}",
            field="session_id",
        )
    accounts = [*members, *([fee_recipient] if fee_recipient else [])]
    missing = [
        a
        for a in accounts
        if a not in fsps and not any(market.is_netting_payee(f, a) for f in payers)
    ]
    if missing:
        raise Conflict(
            f"session 0x{session_id.hex()}: not named as netting payees by an FSP of the "
            f"session that the netting debits: {', '.join(missing)}",
            field="session_id",
        )


def settle_session(
    *,
    engine: Engine,
    ledger: Ledger,
    bundles: BundleStore,
    session_id: str,
    clearing_house: str,
    fee_recipient: str,
    crash_point: Callable[[str], None] = lambda _name: None,
) -> dict[str, Any]:
    """Per-session period: net market payouts + revenue sharing, ``settleNetting`` once.

    Runs after ``finalize`` (which credits the FSPs). Members that still owe earlier
    receivables repay them first (``repay_outstanding``: stale debts first, and a debtor's
    creditor list stays under the contract's bound). A debit the FSP's credit cannot cover
    does not revert: the contract records the rest as a receivable, repaid from its next
    credit; the stored statements show what was brought forward, recorded and repaid.
    ``crash_point(name)`` is the worker's fault injection (``FLEXMARKET_WORKER_CRASH_AT``).
    """
    state = _state(ledger, session_id)
    if state != SessionState.FINAL:
        raise Conflict(f"session {session_id} is {state.name}, not FINAL", field="session_id")
    at_ts = _at_ts(engine, session_id)
    inputs = contribution_store.netting_inputs_of(engine, session_id)
    contributions = inputs.contributions
    committed = committed_contract_sets(engine, bundles, session_id) or {}
    contracts = applicable_contracts(_contracts(engine, bundles, session_id), contributions, at_ts)
    covered = covered_contributions(contributions, contracts)
    if len(covered) < len(contributions):
        log.warning(
            "session %s: %d contribution(s) without a committed contract valid at the delivery "
            "start are not shared (their FSP keeps that revenue)",
            session_id,
            len(contributions) - len(covered),
        )
    contributions = covered
    result = session_period(
        engine=engine,
        ledger=ledger,
        bundles=bundles,
        session_id=session_id,
        fee_recipient=fee_recipient,
        contributions=contributions,
        contracts=contracts,
    )
    period_id, members, amounts, fee, recipient = result.onchain.settle_netting_args()
    tx_hash = None
    action = "nothing_to_net"
    parties = [*members, *([recipient] if fee else [])]
    if members or fee:
        if ledger.market.netting_settled(period_id):
            action = "already_settled"
            previous = store.load_period(engine, session_id)
            tx_hash = previous["tx_hash"] if previous else None
            if previous is not None:
                # kept as saved: what a party saw stays what it sees
                return _answer(action, session_id, period_id, members, amounts, fee, tx_hash)
            if store.load_netting_intent(engine, session_id) is not None:
                # interrupted after settleNetting, before its statements were saved: every
                # receivable line comes back from the chain, as an uninterrupted run had them
                intent = netting_intent(engine, ledger.market, session_id, parties)
                tx_hash, block = netting_tx(ledger.market, period_id, intent.from_block)
                statements = chain_receivables(
                    result.statements, ledger.market, intent, parties, tx_hash=tx_hash, block=block
                )
                result = result.model_copy(update={"statements": statements})
        else:
            _require_parties(ledger, period_id, members, amounts, recipient if fee else None)
            if not contribution_store.freeze_netting_inputs(engine, session_id, inputs):
                raise Conflict(
                    f"session {session_id}: contributions were posted while it was netted; "
                    "netting again",
                    field="session_id",
                )
            # published before the money moves: what the auditor recomputes the netting from
            bundles.publish(
                session_id,
                "netting",
                NettingBundle(
                    session_id=session_id,
                    period_id=hex32(period_id),
                    at_ts=at_ts,
                    chain_id=ledger.chain_id,
                    verifying_contract=ledger.market_address.lower(),
                    fee_recipient=recipient.lower(),
                    contracts=tuple(contracts),
                    committed_contracts=tuple(
                        CommittedContracts(
                            fsp=fsp,
                            contracts=tuple(
                                sorted((c.contract for c in cs), key=lambda c: c.contract_id)
                            ),
                        )
                        for fsp, cs in sorted(committed.items())
                    ),
                    contributions=tuple(contributions),
                    contribution_envelopes=tuple(
                        ContributionsEnvelope.model_validate(e) for e in inputs.envelopes
                    ),
                    netted=NettedAmounts(
                        members=tuple(x.lower() for x in members),
                        net_amounts=tuple(amounts),
                        fee_units=fee,
                    ),
                ).to_canonical(),
            )
            # recorded before the first transaction: a re-run after a crash between the
            # repayments and the netting (or after it) rebuilds the same lines from the chain
            intent = netting_intent(engine, ledger.market, session_id, parties)
            repay_outstanding(ledger.market, members, sender=clearing_house)
            crash_point("netting:after_repay")
            tx = ledger.market.settle_netting(
                period_id, members, amounts, fee, recipient, sender=clearing_house
            )
            crash_point("netting:after_settle")
            tx_hash, action = tx.tx_hash, "settled"
            statements = chain_receivables(
                result.statements,
                ledger.market,
                intent,
                parties,
                tx_hash=tx_hash,
                block=tx.block_number,
            )
            result = result.model_copy(update={"statements": statements})
    body = canonical_json(json.loads(result.model_dump_json())).decode()
    store.save_period(
        engine,
        period=session_id,
        period_id=netting_period_id(session_id),
        settlement_json=body,
        tx_hash=tx_hash,
    )
    return _answer(action, session_id, period_id, members, amounts, fee, tx_hash)


def _answer(
    action: str,
    session_id: str,
    period_id: bytes,
    members: Sequence[str],
    amounts: Sequence[int],
    fee: int,
    tx_hash: str | None,
) -> dict[str, Any]:
    return {
        "action": action,
        "period": session_id,
        "period_id": hex32(period_id),
        "members": list(members),
        "net_amounts": list(amounts),
        "fee_units": fee,
        "tx_hash": tx_hash,
    }
