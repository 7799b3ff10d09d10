"""FlexRequest of a DSO: create model ``clearing.messages.FlexRequest``; escrow is on-chain."""

from __future__ import annotations

from sqlalchemy import Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import FlexRequest
from market.store.models.fields import big
from market.store.models.signed_message import MessagePublic


class FlexRequestRow(SQLModel, table=True):
    """A DSO's FlexRequest; its escrow lives on-chain under ``keccak256(id)``."""

    __tablename__ = "flex_request"

    id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    dso: str = SqlField(index=True, max_length=42)
    congestion_point: str = SqlField(max_length=64)
    direction: str = SqlField(default="UP", max_length=4)
    budget_units: int = SqlField(default=0, sa_column=big(nullable=False))
    body_json: str = SqlField(sa_column=Column(Text, nullable=False))
    body_hash: str = SqlField(max_length=66)
    message_id: str = SqlField(max_length=64)
    cancelled: bool = False


RequestPublic = MessagePublic[FlexRequest]
