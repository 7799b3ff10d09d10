"""Market session: one clearing round; ``state`` follows the chain (PENDING, OPEN .. FINAL)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, StrictInt, model_validator
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import UuidStr
from market.store.models.fields import CreateBody, Unix, big


class SessionCreate(CreateBody):
    """A market session; the worker creates it on-chain and keeps it in step."""

    session_id: UuidStr
    gate_closure: Unix
    delivery_start: Unix
    delivery_end: Unix
    isp_s: Annotated[StrictInt, Field(ge=60, le=3600)] = 900
    challenge_window_s: Annotated[StrictInt, Field(ge=0, le=30 * 86400)] = 3600

    @model_validator(mode="after")
    def _order(self) -> Self:
        if not self.gate_closure <= self.delivery_start < self.delivery_end:
            raise ValueError("need gate_closure <= delivery_start < delivery_end")
        if (self.delivery_end - self.delivery_start) % self.isp_s:
            raise ValueError("delivery window must be a whole number of ISPs")
        return self


class MarketSession(SQLModel, table=True):
    """One market session; ``state`` follows the chain (OPEN .. FINAL)."""

    __tablename__ = "market_session"

    id: str = SqlField(primary_key=True, max_length=36)
    onchain_id: str = SqlField(index=True, max_length=66)
    state: str = "PENDING"
    gate_closure: int = SqlField(sa_column=big(nullable=False))
    delivery_start: int = SqlField(sa_column=big(nullable=False))
    delivery_end: int = SqlField(sa_column=big(nullable=False))
    isp_s: int = 900
    challenge_window_s: int = 3600
    input_hash: str | None = None
    result_root: str | None = None
    delivery_root: str | None = None
    created_at: int = SqlField(default=0, sa_column=big(nullable=False))


class SessionPublic(BaseModel):
    """What anyone may see of a session (everything here can be rebuilt from the chain)."""

    id: str
    onchain_id: str
    state: str
    gate_closure: int
    delivery_start: int
    delivery_end: int
    isp_s: int
    challenge_window_s: int
    input_hash: str | None
    result_root: str | None
    delivery_root: str | None

    @classmethod
    def from_row(cls, row: MarketSession) -> SessionPublic:
        return cls.model_validate(row.model_dump(exclude={"created_at"}))
