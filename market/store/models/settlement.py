"""Settlement: per order (or per reservation), the verified payout once delivery is attested."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from market.store.models.fields import big


class Settlement(SQLModel, table=True):
    """Per order: the verified payout (token minor units) once delivery is attested."""

    id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    order_id: str = SqlField(max_length=36)
    fsp: str = SqlField(index=True, max_length=42)
    payout_units: int = SqlField(default=0, sa_column=big(nullable=False))
    body_json: str = SqlField(sa_column=Column(Text, nullable=False))


class SettlementPublic(BaseModel):
    """The stored detail (an order's FlexSettlement or a reservation statement) and its payout.

    Extra fields are the detail's own: their set depends on which of the two it is.
    """

    model_config = ConfigDict(extra="allow")

    payout_units: int
