"""Receivables the netting carries forward (issue 19), read from the chain into statements.

Why on-chain: ``settleNetting`` debits at most a member's credit; what its credit cannot cover
is recorded by the contract (``ReceivableRecorded``) as owed to the members it could not pay,
and repaid from the debtor's next credit (``ReceivableRepaid``: in a later netting, a
withdrawal or ``repayReceivables``). The clearing house only reports it: the statement of a
period lists what its members owed before the netting (``brought_forward``), what the netting
recorded and what it repaid, each with the transaction that did it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from sqlalchemy.engine import Engine

from adapters.chain.market_contract import FlexMarketContract
from adapters.chain.tx import DecodedEvent, TxResult
from market.clearing_house import store
from market.clearing_house.statements import ReceivableLine, Statement

__all__ = [
    "NettingIntent",
    "Receivable",
    "chain_receivables",
    "netting_intent",
    "netting_tx",
    "outstanding",
    "repay_outstanding",
    "tx_receivables",
    "with_receivables",
]


@dataclass(frozen=True)
class Receivable:
    """``debtor`` owes (or, for a repayment, paid) ``creditor`` ``amount_units``."""

    debtor: str
    creditor: str
    amount_units: int


def outstanding(market: FlexMarketContract, accounts: Iterable[str]) -> list[Receivable]:
    """Every non-zero receivable owed by or to one of ``accounts``, now (sorted)."""
    pairs: set[tuple[str, str]] = set()
    for account in {a.lower() for a in accounts}:
        pairs |= {(account, c.lower()) for c in market.receivable_creditors(account)}
        pairs |= {(d.lower(), account) for d in market.receivable_debtors(account)}
    found = [Receivable(d, c, market.receivable(d, c)) for d, c in sorted(pairs)]
    return [r for r in found if r.amount_units]


def repay_outstanding(
    market: FlexMarketContract, debtors: Iterable[str], *, sender: str
) -> list[tuple[Receivable, str]]:
    """``repayReceivables`` for each debtor that owes someone and has credit to repay from;
    returns each repayment with its transaction.

    Why before ``settleNetting``: a debtor owes at most ``MAX_CREDITORS`` (256) creditors and
    a netting that would record a 257th reverts; repaying stale debts first (from the credit
    ``finalize`` just gave) keeps that list short. Bounded: one transaction per debtor at most
    (a netting's members), each looping over at most 256 creditors on-chain.
    """
    out: list[tuple[Receivable, str]] = []
    for debtor in sorted({d.lower() for d in debtors}):
        if not market.receivable_creditors(debtor) or market.credits(debtor) == 0:
            continue
        tx = market.repay_receivables(to_checksum_address(debtor), sender=sender)
        out += [(r, tx.tx_hash) for r in tx_receivables(tx)[1]]
    return out


def tx_receivables(tx: TxResult) -> tuple[list[Receivable], list[Receivable]]:
    """(recorded, repaid) by one transaction, from its events."""

    def of(name: str) -> list[Receivable]:
        return [
            Receivable(
                str(e.args["debtor"]).lower(),
                str(e.args["creditor"]).lower(),
                int(e.args["amount"]),
            )
            for e in tx.events_named(name)
        ]

    return of("ReceivableRecorded"), of("ReceivableRepaid")


def with_receivables(
    statements: Mapping[str, Statement],
    *,
    brought: Iterable[Receivable],
    recorded: Iterable[Receivable],
    repaid: Iterable[Receivable],
    tx_hash: str | None,
    repaid_before: Iterable[tuple[Receivable, str]] = (),
) -> dict[str, Statement]:
    """The statements with each participant's receivable lines and what it still owes or is
    owed; a participant without a statement this period gets none (its next one shows it).

    ``repaid_before``: repayments sent before the netting (:func:`repay_outstanding`), each
    with its own transaction."""
    lines: dict[str, list[ReceivableLine]] = defaultdict(list)
    left: dict[str, int] = defaultdict(int)
    groups: list[tuple[str, list[tuple[Receivable, str | None]]]] = [
        ("brought_forward", [(r, None) for r in brought]),
        ("repaid", list(repaid_before)),
        ("recorded", [(r, tx_hash) for r in recorded]),
        ("repaid", [(r, tx_hash) for r in repaid]),
    ]
    for kind, items in groups:
        for r, hash_ in items:
            for who, other, sign in ((r.creditor, r.debtor, 1), (r.debtor, r.creditor, -1)):
                amount = sign * r.amount_units
                lines[who].append(
                    ReceivableLine(
                        kind=kind, counterparty=other, amount_units=amount, tx_hash=hash_
                    )
                )
                left[who] += -amount if kind == "repaid" else amount
    return {
        who: st.model_copy(
            update={"receivables": tuple(lines[who]), "outstanding_receivable_units": left[who]}
        )
        if who in lines
        else st
        for who, st in statements.items()
    }


@dataclass(frozen=True)
class NettingIntent:
    """Where a netting's statement lines start: what its parties owed or were owed before it
    (``brought``) and the first block of its transactions (``from_block``)."""

    from_block: int
    brought: tuple[Receivable, ...]


def netting_intent(
    engine: Engine, market: FlexMarketContract, period: str, parties: Iterable[str]
) -> NettingIntent:
    """The recorded intent of ``period``'s netting; recorded now (before any of its
    transactions) when there is none. Why: read again after a crash, the chain would no
    longer show what a repayment already moved, and its lines would be lost."""
    saved = store.load_netting_intent(engine, period)
    if saved is None:
        brought = outstanding(market, parties)
        body = json.dumps([[r.debtor, r.creditor, r.amount_units] for r in brought])
        store.record_netting_intent(engine, period, market.client.block_number() + 1, body)
        saved = store.load_netting_intent(engine, period)
        assert saved is not None
    from_block, body = saved
    return NettingIntent(
        from_block, tuple(Receivable(d, c, int(a)) for d, c, a in json.loads(body))
    )


def netting_tx(market: FlexMarketContract, period_id: bytes, from_block: int) -> tuple[str, int]:
    """(hash, block) of the ``settleNetting`` that settled ``period_id`` (``NettingSettled``)."""
    (event,) = market.client.get_events(
        "NettingSettled", from_block, address=market.address, topics=["0x" + period_id.hex()]
    )
    return event.tx_hash, event.block_number


def chain_receivables(
    statements: Mapping[str, Statement],
    market: FlexMarketContract,
    intent: NettingIntent,
    parties: Iterable[str],
    *,
    tx_hash: str,
    block: int,
) -> dict[str, Statement]:
    """The statements with their receivable lines, all read from the chain: every repayment
    owed by or to a party between the intent and the netting (``repayReceivables``, also a
    third party's, or a withdrawal), each with its transaction, then what the netting
    transaction ``tx_hash`` (mined in ``block``) recorded and repaid. The same lines whether
    the run was interrupted or not."""
    accounts = {p.lower() for p in parties}

    def found(name: str, lo: int) -> list[tuple[Receivable, DecodedEvent]]:
        events = market.client.get_events(name, lo, block, address=market.address)
        return [
            (
                Receivable(
                    str(e.args["debtor"]).lower(),
                    str(e.args["creditor"]).lower(),
                    int(e.args["amount"]),
                ),
                e,
            )
            for e in sorted(events, key=lambda e: (e.block_number, e.log_index))
        ]

    # a transaction's logs are contiguous: another's in the netting's block with a lower index
    # than its NettingSettled came before it
    settled = [
        e
        for e in market.client.get_events("NettingSettled", block, block, address=market.address)
        if e.tx_hash == tx_hash
    ]
    end = settled[0].log_index if settled else 2**63
    before = [
        (r, e.tx_hash)
        for r, e in found("ReceivableRepaid", intent.from_block)
        if e.tx_hash != tx_hash
        and (e.block_number < block or e.log_index < end)
        and (r.debtor in accounts or r.creditor in accounts)
    ]
    recorded = [r for r, e in found("ReceivableRecorded", block) if e.tx_hash == tx_hash]
    repaid = [r for r, e in found("ReceivableRepaid", block) if e.tx_hash == tx_hash]
    return with_receivables(
        statements,
        brought=intent.brought,
        recorded=recorded,
        repaid=repaid,
        tx_hash=tx_hash,
        repaid_before=before,
    )
