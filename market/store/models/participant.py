"""Participant: a registered market party (roles come from the chain, the rest from itself)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictStr
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import Code
from market.store.models.fields import CreateBody, big


class ParticipantCreate(CreateBody):
    """Self-description of a participant whose roles the chain already holds."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    eic_code: Annotated[StrictStr, Field(max_length=32)] | None = None
    ean_codes: Annotated[list[Code], Field(max_length=100)] = []  # noqa: RUF012 (pydantic copies it)


class Participant(SQLModel, table=True):
    """A registered market party; ``roles`` mirrors the chain (comma-separated names)."""

    address: str = SqlField(primary_key=True, max_length=42)
    name: str = ""
    roles: str = ""
    eic_code: str | None = None
    ean_codes: str = ""
    created_at: int = SqlField(default=0, sa_column=big(nullable=False))


class ParticipantPublic(BaseModel):
    """What anyone may read of a participant."""

    address: str
    name: str
    roles: list[str]
    eic_code: str | None
    ean_codes: list[str]

    @classmethod
    def from_row(cls, row: Participant) -> ParticipantPublic:
        return cls(
            address=row.address,
            name=row.name,
            roles=[r for r in row.roles.split(",") if r],
            eic_code=row.eic_code,
            ean_codes=[c for c in row.ean_codes.split(",") if c],
        )
