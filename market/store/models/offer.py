"""FlexOffer of an FSP (create model ``clearing.messages.FlexOffer``) and its inclusion receipt."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import FlexOffer
from market.store.models.fields import big
from market.store.models.signed_message import MessagePublic


class OfferRow(SQLModel, table=True):
    """An FSP's FlexOffer; private to the FSP and the operator until gate closure."""

    __tablename__ = "offer"

    id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    fsp: str = SqlField(index=True, max_length=42)
    congestion_point: str = SqlField(max_length=64)
    request_id: str | None = SqlField(default=None, max_length=36)
    body_json: str = SqlField(sa_column=Column(Text, nullable=False))
    body_hash: str = SqlField(max_length=66)
    message_id: str = SqlField(max_length=64)
    created_at: int = SqlField(default=0, sa_column=big(nullable=False))


OfferPublic = MessagePublic[FlexOffer]


class OfferReceipt(SQLModel, table=True):
    """Inclusion proof of one offer in its FSP's committed Merkle root (handed out at closure)."""

    __tablename__ = "offer_receipt"

    offer_id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    fsp: str = SqlField(index=True, max_length=42)
    root: str = SqlField(max_length=66)
    leaf_hash: str = SqlField(max_length=66)
    proof_json: str = SqlField(sa_column=Column(Text, nullable=False))
    included: bool = True


class OfferReceiptPublic(BaseModel):
    """An FSP's proof that its offer is a leaf of the root it committed on-chain."""

    offer_id: str
    root: str
    leaf_hash: str
    proof: list[Any]
    included: bool

    @classmethod
    def from_row(cls, row: OfferReceipt) -> OfferReceiptPublic:
        return cls(
            offer_id=row.offer_id,
            root=row.root,
            leaf_hash=row.leaf_hash,
            proof=json.loads(row.proof_json),
            included=row.included,
        )
