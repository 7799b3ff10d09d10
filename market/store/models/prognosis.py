"""D-prognosis of an FSP: create model ``clearing.messages.DPrognosis`` (its baseline)."""

from __future__ import annotations

from sqlalchemy import Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import DPrognosis
from market.store.models.signed_message import MessagePublic


class PrognosisRow(SQLModel, table=True):
    """An FSP's D-prognosis (baseline) for its portfolio at a congestion point."""

    __tablename__ = "prognosis"

    id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    fsp: str = SqlField(index=True, max_length=42)
    congestion_point: str = SqlField(max_length=64)
    body_json: str = SqlField(sa_column=Column(Text, nullable=False))
    body_hash: str = SqlField(max_length=66)
    message_id: str = SqlField(max_length=64)


PrognosisPublic = MessagePublic[DPrognosis]
