"""The CSMS's sink in the FSP gateway (every reading into the outbox before the station's
acknowledgement) and the relay that posts the outbox to the market.

Why the sink writes synchronously: the CSMS answers a MeterValues call only after
``sink.store`` returned, so a reading a station has seen acknowledged is committed in the
gateway's database; a SIGKILL can lose the answer (the station re-sends, the outbox ignores
the twin) but never the reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from adapters.ocpp.charging_needs import EvChargingNeeds
from adapters.ocpp.sink import MeterEvent, MeterReading
from market.api.schemas import MeterReadingCreate
from market.fsp.store import GatewayStore
from market.participant.errors import ParticipantError
from market.participant.participant import Participant

Log = Callable[[dict[str, Any]], None]


class OutboxSink:
    """A ``ReadingSink`` (and ``ChargingNeedsSink``) over the gateway's store."""

    def __init__(
        self, db: GatewayStore, log: Log, on_stored: Callable[[], None] | None = None
    ) -> None:
        self.db = db
        self.log = log
        self.stored = 0
        self.on_stored = on_stored  # told of each new reading (the runner relays it soon)

    async def store(self, reading: MeterReading) -> None:
        if await asyncio.to_thread(self.db.put_reading, reading):
            self.stored += 1
            if self.on_stored is not None:
                self.on_stored()

    async def record_event(self, event: MeterEvent) -> None:
        self.log({"event": "meter_event", **asdict(event)})

    async def store_charging_needs(self, needs: EvChargingNeeds) -> None:
        await asyncio.to_thread(
            self.db.put_charging_needs, needs.station_id, needs.evse_id, asdict(needs)
        )


def as_create(reading: MeterReading) -> MeterReadingCreate:
    """The market's body of a station-signed reading (what the meter signed, unchanged)."""
    return MeterReadingCreate(
        station_id=reading.station_id,
        evse_id=reading.evse_id,
        timestamp=reading.timestamp,
        import_wh=reading.import_wh,
        export_wh=reading.export_wh,
        power_w=reading.power_w,
        soc_pct=reading.soc_pct,
        signed_data=reading.signed_data,
        signature=reading.signature,
        public_key=reading.public_key,
    )


#: Readings this far outside every known session's delivery window are not relayed: the
#: market allows a margin around the window (900 s by default), less than this.
WINDOW_MARGIN_S = 3600


def _covered(ts: int, windows: Sequence[tuple[int, int]]) -> bool:
    return any(start - WINDOW_MARGIN_S <= ts <= end + WINDOW_MARGIN_S for start, end in windows)


def relay(
    store: GatewayStore,
    participant: Participant,
    log: Log,
    *,
    limit: int = 500,
    windows: Sequence[tuple[int, int]] | None = None,
    stop: Callable[[], bool] | None = None,
    hold: Callable[[int, int], bool] | None = None,
) -> int:
    """Post pending readings, oldest first; mark each sent once the market stored it (or had
    it already). A refusal that names the reading (4xx) marks it refused with the reason and
    goes on; anything else (market down, 5xx, a reading from the future by the market's
    clock) stops the relay until the next pass. Returns how many were sent.

    With the known sessions' delivery ``windows``: a reading no window covers (with a margin
    wider than the market's) is marked ``outside`` and kept, never posted. No session listed
    later can cover it: a session is opened before its gate closure, which is at or before
    its delivery start, so its window starts after the readings taken before it was listed.
    The market's own "outside every session's delivery window" also marks it ``outside``.
    Either is logged once per pass as a count, not once per reading. ``stop`` true ends the
    relay before the next reading (the rest stay pending for the next pass).  ``hold(row id,
    timestamp)`` true keeps a reading pending for now: one that came after the CPO's digests
    of a not yet attested session whose window holds it (``market/fsp/cpo.py``)."""
    sent = 0
    outside: list[int] = []
    for row in store.pending(limit):
        if stop is not None and stop():
            break
        ts = row.reading.timestamp
        if hold is not None and hold(row.id, ts):
            continue
        if windows is not None and not _covered(ts, windows):
            store.mark_reading(row.id, "outside", "outside every known delivery window")
            outside.append(ts)
            continue  # kept in the outbox, never relayed
        try:
            participant.post_readings([as_create(row.reading)])
        except ParticipantError as exc:
            if exc.status in (400, 403, 409, 422) and "outside every session" in exc.reason:
                store.mark_reading(row.id, "outside", f"{exc.field}: {exc.reason}")
                outside.append(ts)
                continue
            if exc.status in (400, 403, 409, 422) and "future" not in exc.reason:
                store.mark_reading(row.id, "refused", f"{exc.field}: {exc.reason}")
                log(
                    {
                        "event": "reading_refused",
                        "station_id": row.reading.station_id,
                        "evse_id": row.reading.evse_id,
                        "timestamp": row.reading.timestamp,
                        "field": exc.field,
                        "reason": exc.reason,
                    }
                )
                continue
            log({"event": "relay_paused", "field": exc.field, "reason": exc.reason})
            break
        store.mark_reading(row.id, "sent")
        sent += 1
    if outside:
        log(
            {
                "event": "readings_outside_windows",
                "readings": len(outside),
                "first": min(outside),
                "last": max(outside),
            }
        )
    return sent
