"""The gateway's report of its stations' OCPP status to the market (``POST /station-status``):
connected to its CSMS or not, when last seen, and the power last set there.

Why the gateway reports: only the FSP's own CSMS talks OCPP to its chargers, yet the market
operator's ``/fsp`` desk shows them. Sent when a station's connection or setpoint changes, and
at least every ``refresh_s`` while anything is connected (so "last seen" stays fresh), never on
every pass: each report is a stored, signed row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.ocpp.csms import Csms
from market.store.models import StationStatusCreate, StationStatusItem

DEFAULT_REFRESH_S = 60


def setpoint_w(csms: Csms, station_id: str, evse_ids: Sequence[int], now: int) -> int | None:
    """The power of the latest started ISP of each EVSE's order, summed; None if none started."""
    powers = []
    for evse_id in evse_ids:
        order = csms.dispatcher.order(station_id, evse_id)
        started = [i for i in order.isps if i.start_unix <= now] if order is not None else []
        if started:
            powers.append(max(started, key=lambda i: i.start_unix).power_w)
    return sum(powers) if powers else None


@dataclass
class StationReporter:
    """Reports ``stations`` (station id -> its EVSE ids) through ``send`` when they change."""

    csms: Csms
    stations: Mapping[str, Sequence[int]]
    send: Callable[[StationStatusCreate], Any]
    refresh_s: int = DEFAULT_REFRESH_S
    seen: dict[str, int] = field(default_factory=dict)  # station -> when last seen connected
    _sent: tuple[Any, ...] | None = None
    _sent_at: int = 0

    def status(self, now: int) -> StationStatusCreate:
        items = []
        for sid, evses in sorted(self.stations.items()):
            session = self.csms.sessions.get(sid)
            connected = bool(session and session.connected)
            if connected:
                self.seen[sid] = now
            heartbeat = session.last_heartbeat_unix if session is not None else None
            last = max((t for t in (self.seen.get(sid), heartbeat) if t is not None), default=None)
            items.append(
                StationStatusItem(
                    station_id=sid,
                    connected=connected,
                    last_seen_unix=last,
                    setpoint_w=setpoint_w(self.csms, sid, evses, now),
                )
            )
        return StationStatusCreate(stations=items)

    def report(self, now: int) -> bool:
        """Send the status if it changed or is due; True if sent."""
        if not self.stations:
            return False
        body = self.status(now)
        key = tuple((s.station_id, s.connected, s.setpoint_w) for s in body.stations)
        due = any(s.connected for s in body.stations) and now - self._sent_at >= self.refresh_s
        if key == self._sent and not due:
            return False
        self.send(body)
        self._sent, self._sent_at = key, now
        return True
