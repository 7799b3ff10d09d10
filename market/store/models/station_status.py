"""What an FSP's gateway last reported of its charging stations: connected to its CSMS or not,
when it last heard from each, and the power it last set there (kind ``station_status``).

Why the market keeps it: the market operator's ``/fsp`` desk shows stations with their live
OCPP status, but only the FSP's own CSMS talks OCPP to them; its gateway reports what it sees,
signed like every write, and only of stations it registered. Append-only: each report is a
row, the latest per station is the status shown, so a report never erases an earlier one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from clearing.units import MAX_POWER_W
from market.store.models.fields import CreateBody, Unix, big

MAX_STATIONS_PER_REPORT = 1_000
StationId = Annotated[StrictStr, Field(min_length=1, max_length=64)]
#: signed: an EVSE may discharge (V2G), so a setpoint may be negative
SetpointW = Annotated[StrictInt, Field(ge=-MAX_POWER_W, le=MAX_POWER_W)]


class StationStatusItem(CreateBody):
    """One station as the FSP's CSMS sees it."""

    station_id: StationId
    connected: StrictBool
    last_seen_unix: Unix | None = None  # the latest Heartbeat or message, CSMS clock
    setpoint_w: SetpointW | None = None  # the latest charging-profile power sent, summed


class StationStatusCreate(CreateBody):
    """A gateway's report of some of its stations (each station once)."""

    stations: Annotated[
        list[StationStatusItem], Field(min_length=1, max_length=MAX_STATIONS_PER_REPORT)
    ]


class StationStatus(SQLModel, table=True):
    """One station's status as one report gave it."""

    __tablename__ = "station_status"

    id: int | None = SqlField(default=None, primary_key=True)
    fsp: str = SqlField(index=True, max_length=42)
    station_id: str = SqlField(index=True, max_length=64)
    connected: bool = False
    last_seen_unix: int | None = SqlField(default=None, sa_column=big(nullable=True))
    setpoint_w: int | None = SqlField(default=None, sa_column=big(nullable=True))
    reported_at: int = SqlField(default=0, sa_column=big(nullable=False))


class StationStatusPublic(BaseModel):
    """The latest status of one station, with when the market received it."""

    fsp: str
    station_id: str
    connected: bool
    last_seen_unix: int | None
    setpoint_w: int | None
    reported_at: int


class StationStatusAccepted(BaseModel):
    """The answer to a ``station_status`` report: whose, how many stations, when received."""

    fsp: str
    stations: int
    reported_at: int
