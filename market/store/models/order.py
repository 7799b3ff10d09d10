"""FlexOrder (an award, public shape ``clearing.messages.FlexOrder``), its dispatch status and
the FSP's acknowledgement that it took the order over for dispatch."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import UuidStr
from market.store.models.fields import CreateBody, big


class OrderRow(SQLModel, table=True):
    """A FlexOrder (award) taken from the published result bundle."""

    __tablename__ = "flex_order"

    id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    offer_id: str = SqlField(max_length=36)
    fsp: str = SqlField(index=True, max_length=42)
    request_id: str | None = SqlField(default=None, max_length=36)
    body_json: str = SqlField(sa_column=Column(Text, nullable=False))


DispatchState = Literal["PENDING", "SENT", "ACCEPTED", "REJECTED", "DELIVERING", "DONE", "FAILED"]


class DispatchStatusCreate(CreateBody):
    """Dispatch progress of one order at one station."""

    session_id: UuidStr
    order_id: UuidStr
    station_id: Annotated[StrictStr, Field(max_length=64)] = ""
    state: DispatchState
    detail: Annotated[StrictStr, Field(max_length=500)] = ""


class DispatchStatus(SQLModel, table=True):
    """Last known dispatch state of an order at a station."""

    __tablename__ = "dispatch_status"
    __table_args__ = (UniqueConstraint("order_id", "station_id"),)

    id: int | None = SqlField(default=None, primary_key=True)
    session_id: str = SqlField(index=True, max_length=36)
    order_id: str = SqlField(max_length=36)
    station_id: str = ""
    state: str = "PENDING"
    detail: str = ""
    updated_at: int = SqlField(default=0, sa_column=big(nullable=False))


class DispatchStatusPublic(BaseModel):
    """A stored dispatch status row."""

    id: int | None
    session_id: str
    order_id: str
    station_id: str
    state: str
    detail: str
    updated_at: int


MAX_ACK_ORDERS = 10_000


class DispatchAckCreate(CreateBody):
    """An FSP takes over dispatch of some of its orders (kind ``dispatch_ack``).

    Why: the market does not drive chargers; each FSP dispatches its own orders from its own
    CSMS, and this signed acknowledgement is what the worker reports per FSP.
    """

    session_id: UuidStr
    order_ids: Annotated[list[UuidStr], Field(min_length=1, max_length=MAX_ACK_ORDERS)]


class DispatchAck(SQLModel, table=True):
    """One acknowledged order (the first acknowledgement counts; later ones are no-ops)."""

    __tablename__ = "dispatch_ack"

    order_id: str = SqlField(primary_key=True, max_length=36)
    session_id: str = SqlField(index=True, max_length=36)
    fsp: str = SqlField(max_length=42)
    message_id: str = SqlField(max_length=64)
    acked_at: int = SqlField(default=0, sa_column=big(nullable=False))


class DispatchAckResult(BaseModel):
    """The answer to a ``dispatch_ack``: the orders this message acknowledged (not repeats)."""

    session_id: str
    fsp: str
    acknowledged: list[str]


class DispatchAckPublic(BaseModel):
    """Per FSP of a session: its orders acknowledged for dispatch and those not (yet)."""

    fsp: str
    orders: int
    acknowledged: list[str]
    unacknowledged: list[str]
