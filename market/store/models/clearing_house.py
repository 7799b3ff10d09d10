"""Clearing-house resources: revenue-sharing contracts, user contributions, dispute evidence
and resolutions, settled periods (netting + statements) and who has a statement in each.

The tables are plain SQLAlchemy Core on their own ``MetaData`` (the clearing house reads and
writes them with Core); migration 0002 creates them. Bodies are canonical JSON text; amounts
inside are integers.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from clearing.settlement.meter import SignedMeterReading
from clearing.settlement.revenue import UserContribution
from market.clearing_house.statements import Statement

metadata = sa.MetaData()

revenue_contracts = sa.Table(
    "ch_revenue_contracts",
    metadata,
    sa.Column("contract_id", sa.String(64), primary_key=True),
    sa.Column("fsp", sa.String(42), index=True, nullable=False),
    sa.Column("ev_user", sa.String(42), index=True, nullable=False),
    sa.Column("body_json", sa.Text, nullable=False),
)
# Every version of an FSP's contracts in posting order, and every set they formed (migration
# 0013), keyed by its root (clearing.commitments.contract_set_root) with the last version it
# includes: the FSP commits one set with its offers, folded into its portfolio hash; the
# netting applies the signed contracts of exactly that set. O(contracts) rows, not O(n^2).
contract_versions = sa.Table(
    "ch_contract_versions",
    metadata,
    sa.Column("fsp", sa.String(42), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("contract_id", sa.String(64), nullable=False),
    sa.Column("body_json", sa.Text, nullable=False),
)
contract_sets = sa.Table(
    "ch_contract_sets",
    metadata,
    sa.Column("fsp", sa.String(42), primary_key=True),
    sa.Column("set_root", sa.String(66), primary_key=True),
    sa.Column("upto_seq", sa.BigInteger, nullable=False),
)
contributions = sa.Table(
    "ch_user_contributions",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("fsp", sa.String(42), primary_key=True),
    sa.Column("ev_user", sa.String(42), primary_key=True),
    sa.Column("shifted_wh", sa.BigInteger, nullable=False),
    sa.Column("discharged_wh", sa.BigInteger, nullable=False),
)
# The FSP's signed envelope of a session's contributions (migration 0013): one per (session,
# FSP), the latest (nonce, expiry, message id) of its posts; its rows are the session's
# contributions of that FSP, so the netting bundle can show the FSP's signature over them.
contribution_envelopes = sa.Table(
    "ch_contribution_envelopes",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("fsp", sa.String(42), primary_key=True),
    sa.Column("nonce", sa.BigInteger, nullable=False),
    sa.Column("expiry", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("envelope_json", sa.Text, nullable=False),
)
dispute_evidence = sa.Table(
    "ch_dispute_evidence",
    metadata,
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(36), index=True, nullable=False),
    sa.Column("submitter", sa.String(42), nullable=False),
    sa.Column("body_json", sa.Text, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
)
resolutions = sa.Table(
    "ch_dispute_resolutions",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("corrected_root", sa.String(66), nullable=False),
    sa.Column("bundle", sa.LargeBinary, nullable=False),
    sa.Column("tx_hash", sa.String(66), nullable=True),
)
periods = sa.Table(
    "ch_periods",
    metadata,
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("period_id", sa.String(66), nullable=False),
    sa.Column("settlement_json", sa.Text, nullable=False),
    sa.Column("tx_hash", sa.String(66), nullable=True),
)
# Who has a statement in which period (migration 0012): ``GET /statements?participant=``
# reads one participant's rows by the primary key's prefix instead of every period's JSON.
period_participants = sa.Table(
    "ch_period_participants",
    metadata,
    sa.Column("participant", sa.String(42), primary_key=True),
    sa.Column("period", sa.String(64), primary_key=True),
)

# What a netting's statements start from (migration 0014): the receivables brought forward and
# the first block of its transactions, recorded before the first one is sent, so a run
# interrupted between ``repayReceivables`` and ``settleNetting`` rebuilds the same lines.
netting_intents = sa.Table(
    "ch_netting_intents",
    metadata,
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("from_block", sa.BigInteger, nullable=False),
    sa.Column("brought_json", sa.Text, nullable=False),
)

# What a netting nets (migration 0015): the contribution rows and signed envelopes, frozen
# under the session's lock just before its bundle is published; posts after it are refused,
# and a re-run after a crash nets the same inputs (the bundle is write-once).
netting_inputs = sa.Table(
    "ch_netting_inputs",
    metadata,
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("contributions_json", sa.Text, nullable=False),
    sa.Column("envelopes_json", sa.Text, nullable=False),
)


# ---- shapes of the routes ----------------------------------------------------------------


class ContractAccepted(BaseModel):
    """Answer to a stored revenue-sharing contract."""

    contract_id: str
    fsp: str


class UserContributions(BaseModel):
    """An FSP's per-user flexible energy in a session (the basis of user incentives)."""

    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[StrictStr, Field(max_length=36)]
    contributions: Annotated[list[UserContribution], Field(max_length=10_000)]
    nonce: Annotated[
        StrictInt,
        Field(
            ge=0,
            lt=2**63,
            description="A re-post replaces the FSP's previous one for the session when its "
            "(nonce, expiry, message id) is greater; a smaller one is refused (409)",
        ),
    ] = 0


class ContributionsAccepted(BaseModel):
    """Answer to stored user contributions: how many rows were taken."""

    session_id: str
    count: int


class DisputeEvidence(BaseModel):
    """A disputing party's evidence: its own signed meter readings for the session."""

    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[StrictStr, Field(max_length=36)]
    reason: Annotated[StrictStr, Field(max_length=2000)] = ""
    readings: Annotated[list[SignedMeterReading], Field(max_length=10_000)]


class EvidenceAccepted(BaseModel):
    """Answer to posted evidence: the session's on-chain state when it was taken."""

    message_id: str
    session_id: str
    submitter: str
    readings: int
    chain_state: str


class EvidencePublic(BaseModel):
    """One stored evidence message."""

    message_id: str
    submitter: str
    body: dict[str, Any]
    received_at: int


class ResolutionPublic(BaseModel):
    """The arbiter's corrected delivery root and the transaction that posted it."""

    corrected_root: str
    tx_hash: str | None


class DisputesPublic(BaseModel):
    """Evidence posted for a session and the arbiter's resolution, if any."""

    session_id: str
    evidence: list[EvidencePublic]
    resolution: ResolutionPublic | None


class StatementPublic(Statement):
    """A participant's statement of a period and the ``settleNetting`` transaction."""

    tx_hash: str | None
