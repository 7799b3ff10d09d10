"""Asset: a charger EVSE (or other flexible asset) an FSP controls at a congestion point."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.messages import Code, UuidStr
from market.store.models.fields import CreateBody, Hex, Watts, big


class AssetCreate(CreateBody):
    """A charger EVSE controlled by the signing FSP."""

    asset_id: UuidStr
    congestion_point: Code
    station_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    evse_id: Annotated[StrictInt, Field(ge=0, le=1000)] = 1
    max_import_w: Watts
    max_export_w: Watts
    meter_public_key: Hex | None = None


class Asset(SQLModel, table=True):
    """A charger EVSE (or other flexible asset) that an FSP controls at a congestion point."""

    id: str = SqlField(primary_key=True, max_length=36)
    congestion_point: str = SqlField(index=True, max_length=64)
    owner: str = SqlField(index=True, max_length=42)
    station_id: str = ""
    evse_id: int = 1
    max_import_w: int = SqlField(default=0, sa_column=big(nullable=False))
    max_export_w: int = SqlField(default=0, sa_column=big(nullable=False))
    meter_public_key: str | None = None


class AssetPublic(BaseModel):
    """What anyone may read of an asset; ``asset_id`` is the row's ``id``."""

    congestion_point: str
    owner: str
    station_id: str
    evse_id: int
    max_import_w: int
    max_export_w: int
    meter_public_key: str | None
    asset_id: str

    @classmethod
    def from_row(cls, row: Asset) -> AssetPublic:
        data = row.model_dump()
        data["asset_id"] = data.pop("id")
        return cls.model_validate(data)
