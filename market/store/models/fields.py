"""Field types shared by the resource families: integer units with their bounds.

Why here: the create models (what a signed message may carry), the tables and the public
shapes of every resource use the same units, so their bounds are defined once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from sqlalchemy import BigInteger, Column

from clearing.units import MAX_POWER_W

Unix = Annotated[StrictInt, Field(ge=0, lt=2**40)]
Watts = Annotated[StrictInt, Field(ge=0, le=MAX_POWER_W)]
Wh = Annotated[StrictInt, Field(ge=0, lt=2**62)]
MessageId = Annotated[StrictStr, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Hex = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]*$", max_length=200)]


class CreateBody(BaseModel):
    """Base of every signed body: immutable, and unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def big(*, nullable: bool) -> Column[int]:
    """A BIGINT column: Wh, W, token units and Unix seconds outgrow 32 bits."""
    return Column(BigInteger, nullable=nullable)
