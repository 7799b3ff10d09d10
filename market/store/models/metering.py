"""Meter readings and meter events, mapped onto the OCPP adapter's tables.

Why the adapter owns the tables: ``adapters`` must not import ``market``, yet the CSMS sink
writes ``meter_readings`` and ``meter_events`` directly. So the tables are defined once in
``adapters/ocpp/sink.py``, and the market maps its ORM classes onto those very ``Table``
objects (declarative with an existing table): one schema, read and written by both. In the
market store the tables are created by its migrations (0001), never by the sink.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictInt, StrictStr
from sqlalchemy.orm import DeclarativeBase, Mapped

from adapters.ocpp.sink import meter_events, meter_readings
from clearing.units import MAX_POWER_W
from market.store.models.fields import CreateBody, Hex, Unix, Wh


class _Mapped(DeclarativeBase):
    """Registry of the classes mapped onto tables defined outside the market."""


class MeterReading(_Mapped):
    """A meter sample of one EVSE. ``power_w`` is net import minus export (negative =
    discharge); registers are in Wh."""

    __table__ = meter_readings

    id: Mapped[int | None]
    station_id: Mapped[str]
    evse_id: Mapped[int]
    timestamp: Mapped[int]
    import_wh: Mapped[int]
    export_wh: Mapped[int]
    power_w: Mapped[int]
    soc_pct: Mapped[int | None]
    signed_data: Mapped[str | None]
    signature: Mapped[str | None]
    public_key: Mapped[str | None]
    protocol: Mapped[str]
    received_at: Mapped[int]

    def __init__(self, **values: Any) -> None:
        defaults = {"evse_id": 1, "power_w": 0, "protocol": "api", "received_at": 0}
        super().__init__(**{**defaults, **values})


class MeterEvent(_Mapped):
    """An anomaly in a meter series (gap, register reset, late clock), kept beside readings."""

    __table__ = meter_events

    id: Mapped[int | None]
    kind: Mapped[str]
    station_id: Mapped[str]
    evse_id: Mapped[int]
    start_ts: Mapped[int]
    end_ts: Mapped[int]
    import_before_wh: Mapped[int | None]
    import_after_wh: Mapped[int | None]
    export_before_wh: Mapped[int | None]
    export_after_wh: Mapped[int | None]
    detail: Mapped[str]


class MeterReadingCreate(CreateBody):
    """One meter sample (Wh registers, net power W) of a station EVSE, as a meter oracle saw it."""

    station_id: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    evse_id: Annotated[StrictInt, Field(ge=0, le=1000)] = 1
    timestamp: Unix
    import_wh: Wh
    export_wh: Wh
    power_w: Annotated[StrictInt, Field(ge=-MAX_POWER_W, le=MAX_POWER_W)] = 0
    soc_pct: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    signed_data: Annotated[StrictStr, Field(max_length=4000)] | None = None
    signature: Hex | None = None
    public_key: Hex | None = None


class MeterReadingPublic(BaseModel):
    """A stored reading; ``id`` is absent from the answer to the write that stored it."""

    id: int | None = None
    station_id: str
    evse_id: int
    timestamp: int
    import_wh: int
    export_wh: int
    power_w: int
    soc_pct: int | None
    signed_data: str | None
    signature: str | None
    public_key: str | None
    protocol: str
    received_at: int

    @classmethod
    def from_row(cls, row: MeterReading) -> MeterReadingPublic:
        return cls.model_validate({c.name: getattr(row, c.name) for c in meter_readings.c})
