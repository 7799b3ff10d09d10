"""The ``netting`` bundle: what a session's netting was computed from, and what it netted.

Why: ``settleNetting`` only bounds a netting (session parties, conserved value, fee cap). The
bundle publishes every input ``settle_period`` used - the revenue-sharing contracts with all
their parties' EIP-712 signatures, the users' contributions as the FSPs posted them, the fee
recipient and the time the contracts are judged at - so an auditor recomputes the netting with
the same pure function and compares it with the ``settleNetting`` calldata. Each committed
FSP's whole contract set (``committed_contracts``, the preimage of the root folded into its
portfolio hash) is published too, so the auditor checks the applied ones are exactly the
committed ones the rule selects (no extra, omitted or substituted contract).

Contributions: each FSP's signed ``user_contributions`` envelope (the latest it posted for the
session) is published as it was signed, so the auditor checks that the rows the netting used
are exactly the signed ones: an operator cannot move an EV user's share by editing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clearing.encoding import canonical_json
from clearing.settlement.revenue import RevenueShareContract, UserContribution
from market.clearing_house.period import SignedContract

__all__ = [
    "NETTING_BUNDLE_VERSION",
    "CommittedContracts",
    "ContributionsEnvelope",
    "NettedAmounts",
    "NettingBundle",
    "applicable_contracts",
]

NETTING_BUNDLE_VERSION = 2


class ContributionsEnvelope(BaseModel):
    """An FSP's EIP-712 signed ``user_contributions`` message, exactly as it was posted."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    message_id: str
    kind: str
    signer: str
    expiry: int
    summary: str
    body: dict[str, Any]
    signature: str


class CommittedContracts(BaseModel):
    """The preimage of the contract set one FSP bound with its offers (the root folded into
    its portfolio hash): what the applied contracts must be drawn from, by the published
    rule (valid at the delivery start, with a user who contributed)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    fsp: str
    contracts: tuple[RevenueShareContract, ...]


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
    # absent in version 1 bundles: the applied contracts are then not shown to be committed
    committed_contracts: tuple[CommittedContracts, ...] = ()
    contributions: tuple[UserContribution, ...]
    # absent in version 1 bundles: their contributions are then unsigned for the auditor
    contribution_envelopes: tuple[ContributionsEnvelope, ...] = ()
    netted: NettedAmounts

    def to_canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="python"))


def covered_contributions(
    contributions: Sequence[UserContribution], contracts: Sequence[SignedContract]
) -> list[UserContribution]:
    """The rows a netting applies: those of an (FSP, user) pair an applied contract covers. A
    row without one (a claim issued after the FSP's commitment, an expired contract) has no
    share to compute: the FSP keeps that revenue, rather than one row blocking every party's
    netting. Its signed envelope is still published, so the auditor sees it was left out."""
    covered = {(s.contract.fsp, s.contract.ev_user) for s in contracts}
    return [c for c in contributions if (c.fsp, c.ev_user) in covered]


def applicable_contracts(
    contracts: Sequence[SignedContract],
    contributions: Sequence[UserContribution],
    at_ts: int,
) -> list[SignedContract]:
    """The contracts a session's netting applies: those between an FSP and a user that
    contributed to it, valid at ``at_ts``, in contract-id order (the committed sets are
    published whole, unsigned, in ``committed_contracts``: terms and pseudonymous addresses,
    no personal data)."""
    pairs = {(c.fsp, c.ev_user) for c in contributions}
    chosen = [
        s
        for s in contracts
        if (s.contract.fsp, s.contract.ev_user) in pairs and s.contract.active_at(at_ts)
    ]
    return sorted(chosen, key=lambda s: s.contract.contract_id)
