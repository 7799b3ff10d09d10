"""The DSO's statement: what it escrowed, paid to FSPs, got back and is owed in penalties, per
session or per month, each line pointing to the on-chain transaction that moved the money.

Why a view of its own: the netting statement (``statements.py``) lists obligations between
parties, and a DSO's payouts are not netted (``finalize`` credits them to the FSPs from its
escrow), so the DSO of a request found nothing there. Here amounts and transaction hashes are
read from the chain's events (``RequestPosted``, ``RequestCancelled``, ``ClearingPosted`` with
``DeliveryAttested`` or ``DisputeResolved``, ``SessionFinalized``, ``NettingSettled``); only
the per-order penalties come from the delivery report the money followed. A line whose money
has not moved on-chain (yet) has ``tx_hash`` null.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from clearing.encoding import canonical_json, uuid_to_bytes32
from clearing.settlement.report import DeliveryReport
from market.bundles import BundleStore
from market.clearing_house.service import final_report
from market.clearing_house.statements import units_to_decimal_str
from market.errors import NotFound
from market.ledger import Ledger
from market.store import models as m

__all__ = [
    "DSO_CSV_COLUMNS",
    "DsoStatement",
    "DsoStatementLine",
    "dso_sessions",
    "dso_statement",
    "dso_statement_csv",
    "dso_statement_json",
    "month_bounds",
    "own_requests",
    "session_lines",
]

DsoLineKind = Literal[
    "escrowed", "paid_to_fsp", "refunded", "penalty_withheld", "penalty_receivable"
]
MONTH = re.compile(r"^(?!0000)(\d{4})-(0[1-9]|1[0-2])$")  # year 0 has no datetime

DSO_CSV_COLUMNS = (
    "dso",
    "period",
    "session_id",
    "kind",
    "request_id",
    "order_id",
    "counterparty",
    "amount_units",
    "amount",
    "tx_hash",
)


class DsoStatementLine(BaseModel):
    """One movement of the DSO's money; ``amount_units`` is never negative, ``kind`` says
    which way: escrowed (out of its wallet), paid_to_fsp (out of its escrow), refunded (back to
    its credit), penalty_withheld (kept from an FSP's payout), penalty_receivable (what the
    payout could not cover, owed by the FSP and settled by netting)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    kind: DsoLineKind
    request_id: str
    order_id: str
    counterparty: str
    amount_units: int
    tx_hash: str | None


class DsoStatement(BaseModel):
    """A DSO's statement of one session or one month (``YYYY-MM``, by delivery start, UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dso: str
    period: str
    sessions: tuple[str, ...]
    lines: tuple[DsoStatementLine, ...]
    escrowed_units: int
    paid_to_fsps_units: int
    refunded_units: int
    penalties_withheld_units: int
    penalties_receivable_units: int
    not_on_chain_lines: int


def month_bounds(period: str) -> tuple[int, int] | None:
    """[start, end) Unix seconds of a ``YYYY-MM`` month in UTC; None if ``period`` is not one."""
    found = MONTH.match(period)
    if found is None:
        return None
    year, month = int(found.group(1)), int(found.group(2))
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    days = calendar.monthrange(year, month)[1]
    return int(start.timestamp()), int(start.timestamp()) + days * 86_400


def dso_sessions(engine: Engine, dso: str, start: int, end: int) -> list[str]:
    """Sessions delivering in [start, end) in which ``dso`` posted a request, by start time."""
    with Session(engine) as db:
        q = (
            select(m.MarketSession.id)
            .join(m.FlexRequestRow, col(m.FlexRequestRow.session_id) == col(m.MarketSession.id))
            .where(
                m.MarketSession.delivery_start >= start,
                m.MarketSession.delivery_start < end,
                m.FlexRequestRow.dso == dso.lower(),
            )
            .order_by(col(m.MarketSession.delivery_start), col(m.MarketSession.id))
        )
        return list(dict.fromkeys(db.exec(q)))


def own_requests(engine: Engine, session_id: str, dso: str) -> dict[bytes, str]:
    """On-chain id -> UUID of the requests ``dso`` posted in the session."""
    with Session(engine) as db:
        q = select(m.FlexRequestRow.id).where(
            m.FlexRequestRow.session_id == session_id, m.FlexRequestRow.dso == dso.lower()
        )
        return {uuid_to_bytes32(rid): rid for rid in db.exec(q)}


def _report(engine: Engine, bundles: BundleStore, session_id: str) -> DeliveryReport | None:
    try:
        return final_report(engine, bundles, session_id)
    except NotFound:
        return None  # attested without a published report: no per-order penalties to show


def session_lines(
    *, engine: Engine, ledger: Ledger, bundles: BundleStore, session_id: str, dso: str
) -> list[DsoStatementLine]:
    """The DSO's lines of one session, from the chain (and the report for penalties)."""
    own = own_requests(engine, session_id, dso)
    market = ledger.market_address.lower()
    out: list[DsoStatementLine] = []

    def line(
        kind: DsoLineKind, rid: str, to: str, units: int, tx: str | None, order: str = ""
    ) -> None:
        if units:
            out.append(
                DsoStatementLine(
                    session_id=session_id,
                    kind=kind,
                    request_id=rid,
                    order_id=order,
                    counterparty=to,
                    amount_units=units,
                    tx_hash=tx,
                )
            )

    budgets: dict[bytes, int] = {}
    for e in ledger.session_events("RequestPosted", session_id):
        rid = bytes(e.args["requestId"])
        if rid in own:
            budgets[rid] = int(e.args["budget"])
            line("escrowed", own[rid], market, budgets[rid], e.tx_hash)
    cancelled = set()
    for e in ledger.session_events("RequestCancelled", session_id):
        rid = bytes(e.args["requestId"])
        if rid in own:
            cancelled.add(rid)
            line("refunded", own[rid], market, int(e.args["refund"]), e.tx_hash)
    finalized = ledger.session_events("SessionFinalized", session_id)
    final_tx = finalized[-1].tx_hash if finalized else None
    clearing, attested = ledger.clearing(session_id), ledger.payouts(session_id)
    if clearing is not None and attested is not None:
        paid: dict[bytes, int] = defaultdict(int)
        for res, payout in zip(clearing.reservations, attested.payouts, strict=True):
            if res.request_id in own:
                paid[res.request_id] += payout
                line("paid_to_fsp", own[res.request_id], res.fsp.lower(), payout, final_tx)
        for rid, budget in budgets.items():
            if rid not in cancelled:
                line("refunded", own[rid], market, budget - paid[rid], final_tx)
    report = _report(engine, bundles, session_id) if attested is not None else None
    if report is not None:
        netted = ledger.session_events("NettingSettled", session_id)
        netting_tx = netted[-1].tx_hash if netted else None
        mine = set(own.values())
        for order in report.orders:
            if order.request_id in mine:
                withheld = order.penalty_units - order.uncovered_penalty_units
                line(
                    "penalty_withheld",
                    order.request_id,
                    order.fsp,
                    withheld,
                    final_tx,
                    order.order_id,
                )
                line(
                    "penalty_receivable",
                    order.request_id,
                    order.fsp,
                    order.uncovered_penalty_units,
                    netting_tx,
                    order.order_id,
                )
    return out


def dso_statement(
    dso: str, period: str, sessions: Sequence[str], lines: Sequence[DsoStatementLine]
) -> DsoStatement:
    """Totals over the lines (sessions in the given order, lines as read)."""

    def total(kind: str) -> int:
        return sum(x.amount_units for x in lines if x.kind == kind)

    return DsoStatement(
        dso=dso.lower(),
        period=period,
        sessions=tuple(sessions),
        lines=tuple(lines),
        escrowed_units=total("escrowed"),
        paid_to_fsps_units=total("paid_to_fsp"),
        refunded_units=total("refunded"),
        penalties_withheld_units=total("penalty_withheld"),
        penalties_receivable_units=total("penalty_receivable"),
        not_on_chain_lines=sum(1 for x in lines if x.tx_hash is None),
    )


def dso_statement_json(statement: DsoStatement) -> bytes:
    """Canonical JSON bytes (deterministic: the same chain gives the same bytes)."""
    return canonical_json(statement.model_dump(mode="python"))


def dso_statement_csv(statement: DsoStatement) -> str:
    """One row per line, header :data:`DSO_CSV_COLUMNS`; ``amount`` in EUR with 6 decimals."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DSO_CSV_COLUMNS)
    for x in statement.lines:
        writer.writerow(
            [
                statement.dso,
                statement.period,
                x.session_id,
                x.kind,
                x.request_id,
                x.order_id,
                x.counterparty,
                x.amount_units,
                units_to_decimal_str(x.amount_units),
                x.tx_hash or "",
            ]
        )
    return buf.getvalue()
