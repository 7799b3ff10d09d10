"""The ``netting`` bundle: what a session's netting was computed from, and what it netted.

Why: ``settleNetting`` only bounds a netting (session parties, conserved value, fee cap). The
bundle publishes every input ``settle_period`` used - the revenue-sharing contracts with all
their parties' EIP-712 signatures, the users' contributions as the FSPs posted them, the fee
recipient and the time the contracts are judged at - so an auditor recomputes the netting with
the same pure function and compares it with the ``settleNetting`` calldata.

Contributions: ``POST /clearing-house/contributions`` checks that each row's ``fsp`` is the
envelope's signer, but the store keeps the rows, not the signed envelope; the bundle carries
the FSP's address (``fsp``), not its signature.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from clearing.encoding import canonical_json
from clearing.settlement.revenue import UserContribution
from market.clearing_house.period import SignedContract

__all__ = ["NETTING_BUNDLE_VERSION", "NettedAmounts", "NettingBundle", "applicable_contracts"]

NETTING_BUNDLE_VERSION = 1


class NettedAmounts(BaseModel):
    """What the clearing house sent to ``settleNetting`` (members sorted, amounts aligned)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    members: tuple[str, ...]
    net_amounts: tuple[int, ...]
    fee_units: int = Field(ge=0)


class NettingBundle(BaseModel):
    """The published netting of one session (canonical JSON; strict on read)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    version: int = NETTING_BUNDLE_VERSION
    kind: str = "netting"
    session_id: str
    period_id: str
    at_ts: int = Field(ge=0)  # contracts must be valid at this time (the delivery start)
    chain_id: int
    verifying_contract: str
    fee_recipient: str
    contracts: tuple[SignedContract, ...]
    contributions: tuple[UserContribution, ...]
    netted: NettedAmounts

    def to_canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="python"))


def applicable_contracts(
    contracts: Sequence[SignedContract],
    contributions: Sequence[UserContribution],
    at_ts: int,
) -> list[SignedContract]:
    """The contracts a session's netting applies: those between an FSP and a user that
    contributed to it, valid at ``at_ts``, in contract-id order (others are not published:
    they are not an input and may name people unrelated to the session)."""
    pairs = {(c.fsp, c.ev_user) for c in contributions}
    chosen = [
        s
        for s in contracts
        if (s.contract.fsp, s.contract.ev_user) in pairs and s.contract.active_at(at_ts)
    ]
    return sorted(chosen, key=lambda s: s.contract.contract_id)
