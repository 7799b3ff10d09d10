"""FSP-signed offer commitments the operator relays on-chain in one batch (``commitOffersBySig``).

Why a table: the FSP signs once (EIP-712 over session, offers root and count, prognosis and
portfolio hashes); the worker relays each stored commitment at most once, before gate closure,
and a crash between the transaction and its record is repaired from the chain's committed bit.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from market.store.models.fields import big

HEX32 = r"^0x[0-9a-fA-F]{64}$"

#: PENDING: stored, not yet on-chain; RELAYED: in a batch the operator sent (``relay_tx``);
#: ONCHAIN: found committed on-chain without our record (a crash, or the FSP committed itself);
#: MISSED: gate closure passed with the FSP uncommitted.
RELAY_STATUSES = ("PENDING", "RELAYED", "ONCHAIN", "MISSED")


class CommitmentCreate(BaseModel):
    """What an FSP posts: its commitment and its 65-byte EIP-712 signature (the signer is the
    FSP; there is no other authentication, the contract checks the same signature)."""

    offers_root: str = Field(pattern=HEX32)
    offer_count: int = Field(ge=0, le=2**32 - 1)
    prognosis_hash: str = Field(pattern=HEX32)
    portfolio_hash: str = Field(pattern=HEX32)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class RelayCommitment(SQLModel, table=True):
    """One FSP's signed commitment to one session (one per FSP and session, like on-chain)."""

    __tablename__ = "relay_commitment"

    session_id: str = SqlField(primary_key=True, max_length=36)
    fsp: str = SqlField(primary_key=True, max_length=42)
    offers_root: str = SqlField(max_length=66)
    offer_count: int = SqlField(default=0, sa_column=big(nullable=False))
    prognosis_hash: str = SqlField(max_length=66)
    portfolio_hash: str = SqlField(max_length=66)
    signature: str = SqlField(max_length=132)
    received_at: int = SqlField(default=0, sa_column=big(nullable=False))
    status: str = SqlField(default="PENDING", max_length=16)
    relay_tx: str | None = SqlField(default=None, max_length=66)


class CommitmentPublic(BaseModel):
    """A stored commitment as anyone may read it (the signature lets anyone re-check it)."""

    session_id: str
    fsp: str
    offers_root: str
    offer_count: int
    prognosis_hash: str
    portfolio_hash: str
    signature: str
    status: str
    relay_tx: str | None

    @classmethod
    def from_row(cls, row: RelayCommitment) -> CommitmentPublic:
        return cls.model_validate(row.model_dump())
