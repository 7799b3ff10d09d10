"""Per-participant statements of a settlement period: JSON, CSV, and the EV user view.

A statement lists every obligation a participant is party to (signed: positive = receivable,
negative = payable), its totals, its net position over all obligations, and its on-chain
position: what ``settleNetting`` credits (+) or debits (-).  Amounts are integer token minor
units; the CSV adds a decimal column for people (6 decimals, exact).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from clearing.encoding import canonical_json
from clearing.settlement.netting import NettingResult, Obligation
from clearing.settlement.revenue import UserContribution

__all__ = [
    "CSV_COLUMNS",
    "ReceivableLine",
    "Statement",
    "StatementLine",
    "UserEarning",
    "build_statements",
    "ev_user_earnings",
    "statement_csv",
    "statement_json",
    "units_to_decimal_str",
]

CSV_COLUMNS = (
    "participant",
    "period",
    "session_id",
    "kind",
    "reference",
    "counterparty",
    "amount_units",
    "amount",
)


class StatementLine(BaseModel):
    """One obligation seen from the participant: + receivable, - payable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    kind: str
    reference: str
    counterparty: str
    amount_units: int


class ReceivableLine(BaseModel):
    """A receivable the netting could not settle, seen from the participant (issue 19):
    ``brought_forward`` (owed before this netting), ``recorded`` (this netting could not
    settle it) or ``repaid`` (moved by this netting). + owed or repaid to the participant,
    - owed or repaid by it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    counterparty: str
    amount_units: int
    tx_hash: str | None = None


class Statement(BaseModel):
    """Everything one participant receives and pays in a settlement period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    participant: str
    period: str
    period_id: str
    lines: tuple[StatementLine, ...]
    receivable_units: int
    payable_units: int
    gross_net_units: int
    netting_position_units: int
    onchain_position_units: int
    fee_units: int
    #: On-chain receivables (see ReceivableLine); empty when the netting settled everything.
    receivables: tuple[ReceivableLine, ...] = ()
    #: Still owed after this netting: + to the participant, - by it.
    outstanding_receivable_units: int = 0

    def to_json_obj(self) -> dict[str, Any]:
        return self.model_dump(mode="python")


class UserEarning(BaseModel):
    """What one EV user earned in one session (the seed's "how much revenue he made")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ev_user: str
    session_id: str
    fsp: str
    shifted_wh: int
    discharged_wh: int
    incentive_units: int


def units_to_decimal_str(units: int, decimals: int = 6) -> str:
    """Exact decimal text of token minor units (``1234567`` -> ``"1.234567"``)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def build_statements(
    obligations: Iterable[Obligation],
    netting: NettingResult,
    onchain: NettingResult | None = None,
) -> dict[str, Statement]:
    """One statement per participant (payer, payee or fee recipient) of the period.

    ``netting`` nets every obligation; ``onchain`` (default: the same) is what
    ``settleNetting`` moves, e.g. without payouts that ``finalize`` already credited."""
    onchain = onchain or netting
    lines: dict[str, list[StatementLine]] = defaultdict(list)
    for ob in sorted(obligations, key=Obligation.sort_key):
        if ob.amount_units == 0 or ob.payer == ob.payee:
            continue
        common = {"session_id": ob.session_id, "kind": ob.kind, "reference": ob.reference}
        lines[ob.payer].append(
            StatementLine(counterparty=ob.payee, amount_units=-ob.amount_units, **common)
        )
        lines[ob.payee].append(
            StatementLine(counterparty=ob.payer, amount_units=ob.amount_units, **common)
        )
    out: dict[str, Statement] = {}
    for participant in sorted(lines):
        mine = lines[participant]
        receivable = sum(line.amount_units for line in mine if line.amount_units > 0)
        payable = -sum(line.amount_units for line in mine if line.amount_units < 0)
        is_fee_recipient = participant == netting.fee_recipient
        position = netting.position(participant) + (netting.fee_units if is_fee_recipient else 0)
        on_chain = onchain.position(participant) + (
            onchain.fee_units if participant == onchain.fee_recipient else 0
        )
        out[participant] = Statement(
            participant=participant,
            period=netting.period,
            period_id=netting.period_id,
            lines=tuple(mine),
            receivable_units=receivable,
            payable_units=payable,
            gross_net_units=receivable - payable,
            netting_position_units=position,
            onchain_position_units=on_chain,
            fee_units=netting.fee_units if is_fee_recipient else 0,
        )
    return out


def statement_json(statement: Statement) -> bytes:
    """Canonical JSON bytes of a statement (deterministic, hashable)."""
    return canonical_json(statement.to_json_obj())


def statement_csv(statement: Statement) -> str:
    """CSV text, one row per line, header :data:`CSV_COLUMNS`, plus a closing ``net`` row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in statement.lines:
        writer.writerow(
            [
                statement.participant,
                statement.period,
                line.session_id,
                line.kind,
                line.reference,
                line.counterparty,
                line.amount_units,
                units_to_decimal_str(line.amount_units),
            ]
        )
    for r in statement.receivables:
        writer.writerow(
            [
                statement.participant,
                statement.period,
                "",
                f"receivable_{r.kind}",
                r.tx_hash or "",
                r.counterparty,
                r.amount_units,
                units_to_decimal_str(r.amount_units),
            ]
        )
    writer.writerow(
        [
            statement.participant,
            statement.period,
            "",
            "net",
            statement.period_id,
            "",
            statement.netting_position_units,
            units_to_decimal_str(statement.netting_position_units),
        ]
    )
    return buf.getvalue()


def ev_user_earnings(
    obligations: Iterable[Obligation], contributions: Sequence[UserContribution]
) -> list[UserEarning]:
    """Per user per session (and FSP): energy provided and the incentive earned."""
    earned: dict[tuple[str, str, str], int] = defaultdict(int)
    for ob in obligations:
        if ob.kind == "user_incentive":
            earned[(ob.payee, ob.session_id, ob.payer)] += ob.amount_units
    energy: dict[tuple[str, str, str], tuple[int, int]] = {}
    for c in contributions:
        key = (c.ev_user, c.session_id, c.fsp)
        shifted, discharged = energy.get(key, (0, 0))
        energy[key] = (shifted + c.shifted_wh, discharged + c.discharged_wh)
    return [
        UserEarning(
            ev_user=user,
            session_id=session_id,
            fsp=fsp,
            shifted_wh=energy.get((user, session_id, fsp), (0, 0))[0],
            discharged_wh=energy.get((user, session_id, fsp), (0, 0))[1],
            incentive_units=earned.get((user, session_id, fsp), 0),
        )
        for (user, session_id, fsp) in sorted(set(earned) | set(energy))
    ]
