"""Congestion point: a grid point that can be congested, nested via ``parent_code``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import Code
from market.store.models.fields import CreateBody, Watts, big


class CongestionPointCreate(CreateBody):
    """A congestion point, optionally nested under a parent point."""

    code: Code
    name: Annotated[StrictStr, Field(max_length=200)] = ""
    parent_code: Code | None = None
    max_increase_w: Watts | None = None
    max_decrease_w: Watts | None = None
    sensitivity_ppm: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1_000_000


class CongestionPoint(SQLModel, table=True):
    """A grid point that can be congested, nested in a hierarchy via ``parent_code``."""

    __tablename__ = "congestion_point"

    code: str = SqlField(primary_key=True, max_length=64)
    name: str = ""
    parent_code: str | None = SqlField(default=None, max_length=64)
    max_increase_w: int | None = SqlField(default=None, sa_column=big(nullable=True))
    max_decrease_w: int | None = SqlField(default=None, sa_column=big(nullable=True))
    sensitivity_ppm: int = 1_000_000


class CongestionPointPublic(BaseModel):
    """What anyone may read of a congestion point (every column)."""

    code: str
    name: str
    parent_code: str | None
    max_increase_w: int | None
    max_decrease_w: int | None
    sensitivity_ppm: int
