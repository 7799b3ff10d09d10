"""Multilateral netting of clearing-member obligations for one settlement period.

Obligations come from the market (DSO → FSP payouts, FSP → DSO uncovered penalties) and from
revenue-sharing contracts (FSP → EV users, fleet operators, CPOs, platform).  Netting sums each
member's receivables minus payables.  Fees (obligations of a fee kind owed to the fee
recipient) are taken out of the member set, so the member positions sum to ``-fee``: exactly
the shape of the on-chain ``settleNetting(periodId, members, netAmounts, fee, feeRecipient)``,
which reverts unless ``sum(netAmounts) + fee == 0``.  Positive net = the member is credited.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clearing.encoding import canonical_json, hex32, keccak256, uuid_to_bytes32
from clearing.settlement.report import DeliveryReport
from clearing.settlement.rules import SettlementError

__all__ = [
    "FEE_KINDS",
    "NettingResult",
    "Obligation",
    "market_obligations",
    "net_obligations",
    "netting_period_id",
]

FEE_KINDS: tuple[str, ...] = ("platform_fee",)
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _address(value: str, field: str) -> str:
    if not _ADDRESS_RE.match(value):
        raise ValueError(f"{field}: must be a 0x-prefixed 20-byte hex address, got {value!r}")
    return value.lower()


class Obligation(BaseModel):
    """``payer`` owes ``payee`` ``amount_units`` for ``kind`` (e.g. ``flex_payout``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    payer: str
    payee: str
    amount_units: int = Field(ge=0)
    kind: str = Field(min_length=1)
    session_id: str
    reference: str = Field(description="order id, contract id, ... the obligation stems from")

    @field_validator("payer", "payee")
    @classmethod
    def _check_address(cls, value: str, info: Any) -> str:
        return _address(value, info.field_name)

    def sort_key(self) -> tuple[str, str, str, str, str, int]:
        return (
            self.session_id,
            self.kind,
            self.reference,
            self.payer,
            self.payee,
            self.amount_units,
        )


class NettingResult(BaseModel):
    """Net positions of one period, ready for ``settleNetting``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    period: str
    period_id: str
    members: tuple[str, ...]
    net_amounts: tuple[int, ...]
    fee_units: int
    fee_recipient: str
    gross_units: int
    obligations_hash: str

    def position(self, member: str) -> int:
        m = member.lower()
        for address, amount in zip(self.members, self.net_amounts, strict=True):
            if address == m:
                return amount
        return 0

    def settle_netting_args(self) -> tuple[bytes, list[str], list[int], int, str]:
        """Arguments of ``settleNetting(periodId, members, netAmounts, fee, feeRecipient)``."""
        return (
            bytes.fromhex(self.period_id[2:]),
            [to_checksum_address(m) for m in self.members],
            list(self.net_amounts),
            self.fee_units,
            to_checksum_address(self.fee_recipient),
        )


def netting_period_id(period: str) -> str:
    """bytes32 (hex) of a period: for a session UUID the session's own on-chain id
    (``keccak256(uuid bytes)``), else ``keccak256("flexmarket:netting:" + period)`` (e.g. a
    day ``2026-01-01``). Netting entries share the session id as ``ref`` with its payouts; the
    auditor tells them apart by the ``NettingSettled`` event of the same transaction."""
    try:
        parsed = uuid.UUID(period)
    except ValueError:
        return hex32(keccak256(f"flexmarket:netting:{period}".encode()))
    return hex32(uuid_to_bytes32(parsed))


def net_obligations(
    obligations: Iterable[Obligation],
    *,
    period: str,
    fee_recipient: str,
    fee_kinds: Sequence[str] = FEE_KINDS,
    keep_zero_members: bool = False,
) -> NettingResult:
    """Net all obligations multilaterally; members sorted by address, fees separated."""
    recipient = _address(fee_recipient, "fee_recipient")
    ordered = sorted(obligations, key=Obligation.sort_key)
    positions: dict[str, int] = defaultdict(int)
    fee = 0
    gross = 0
    for ob in ordered:
        if ob.payer == ob.payee or ob.amount_units == 0:
            continue
        gross += ob.amount_units
        positions[ob.payer] -= ob.amount_units
        if ob.kind in fee_kinds and ob.payee == recipient:
            fee += ob.amount_units
        else:
            positions[ob.payee] += ob.amount_units
    members = sorted(m for m, v in positions.items() if v != 0 or keep_zero_members)
    amounts = tuple(positions[m] for m in members)
    if sum(amounts) + fee != 0:  # structural; guards against a future edit breaking it
        raise SettlementError(f"netting: positions sum to {sum(amounts)} with fee {fee}")
    return NettingResult(
        period=period,
        period_id=netting_period_id(period),
        members=tuple(members),
        net_amounts=amounts,
        fee_units=fee,
        fee_recipient=recipient,
        gross_units=gross,
        obligations_hash=hex32(keccak256(canonical_json([o.model_dump() for o in ordered]))),
    )


def market_obligations(
    report: DeliveryReport,
    dso_of_request: Mapping[str, str],
) -> list[Obligation]:
    """DSO → FSP payouts per (request, FSP) and FSP → DSO uncovered penalties of a report."""
    out: list[Obligation] = []
    for line in report.payouts:
        dso = dso_of_request.get(line.request_id)
        if dso is None:
            raise SettlementError(f"dso_of_request: no DSO for request {line.request_id}")
        if line.payout_units:
            out.append(
                Obligation(
                    payer=dso.lower(),
                    payee=line.fsp,
                    amount_units=line.payout_units,
                    kind="flex_payout",
                    session_id=report.session_id,
                    reference=line.request_id,
                )
            )
    for order in report.orders:
        if order.uncovered_penalty_units:
            dso = dso_of_request.get(order.request_id)
            if dso is None:
                raise SettlementError(f"dso_of_request: no DSO for request {order.request_id}")
            out.append(
                Obligation(
                    payer=order.fsp,
                    payee=dso.lower(),
                    amount_units=order.uncovered_penalty_units,
                    kind="penalty",
                    session_id=report.session_id,
                    reference=order.order_id,
                )
            )
    return out
