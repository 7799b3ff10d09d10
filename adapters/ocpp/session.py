"""What the CSMS keeps per station, and the CSMS as its handlers and dispatcher see it.

The protocol handlers and the dispatcher need a few things of the CSMS that owns them; the
CSMS builds both. ``CsmsPort`` names those few things, so the handlers and the dispatcher
import this module instead of ``csms.py`` and the package has no import cycle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adapters.clock import Clock
    from adapters.ocpp.charging_needs import EvChargingNeeds
    from adapters.ocpp.follow import MeterSample
    from adapters.ocpp.sink import MeterReading


class StationNotConnected(RuntimeError):
    """A call was made to a station that has no open connection."""


@dataclass
class EvseSession:
    """What the CSMS knows about one EVSE."""

    status: str | None = None
    transaction_id: str | int | None = None
    ev_needs: EvChargingNeeds | None = None  # of the transaction in progress


@dataclass
class StationSession:
    """One station as seen by the CSMS, kept across reconnects."""

    station_id: str
    protocol: str | None = None
    handler: Any = None
    boot_info: dict[str, Any] | None = None
    connects: int = 0
    last_heartbeat_unix: int | None = None  # the CSMS clock when the latest Heartbeat came
    evses: dict[int, EvseSession] = field(default_factory=dict)
    # meter values (camelCase) of transactions whose EVSE is not known yet, by transaction id
    unattributed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.handler is not None

    def evse(self, evse_id: int) -> EvseSession:
        return self.evses.setdefault(evse_id, EvseSession())

    def evse_of_transaction(self, transaction_id: str | int) -> int | None:
        for evse_id, state in self.evses.items():
            if state.transaction_id == transaction_id:
                return evse_id
        return None


class CsmsPort(Protocol):
    """The part of :class:`adapters.ocpp.csms.Csms` used by the handlers and the dispatcher."""

    clock: Clock
    stats: Counter[str]
    heartbeat_interval_s: int
    max_frame_bytes: int
    max_json_depth: int

    def session(self, station_id: str) -> StationSession: ...

    def protocol_of(self, station_id: str) -> str | None: ...

    def connected(self, station_id: str) -> bool: ...

    async def call(self, station_id: str, payload: Any) -> Any: ...

    async def on_booted(self, station_id: str) -> None: ...

    async def ingest(self, sample: MeterSample) -> None: ...

    def last_reading(self, station_id: str, evse_id: int) -> MeterReading | None: ...

    def next_transaction_id(self) -> int: ...

    async def store_charging_needs(self, needs: EvChargingNeeds) -> None: ...

    def has_charging_profile(self, station_id: str, evse_id: int) -> bool: ...
