"""Where metered delivery goes: a sink interface, an in-memory and an SQL implementation.

The CSMS turns every accepted MeterValues sample into a :class:`MeterReading` and hands it to
a :class:`ReadingSink`; EV charging needs go to a :class:`ChargingNeedsSink` where the
sink is one. Anomalies a verifier must not mistake for "zero energy" (a gap in the
series, a register that went backwards, a station clock running late) are recorded as
:class:`MeterEvent` rows next to the readings, never patched into them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.clock import Clock, SystemClock
from adapters.ocpp.charging_needs import EvChargingNeeds

EventKind = Literal["gap", "register_reset", "late_clock"]


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One sample of one EVSE meter; integers only (Wh registers, W, Unix seconds)."""

    station_id: str
    evse_id: int
    timestamp: int
    import_wh: int
    export_wh: int
    power_w: int  # net at the meter: import minus export; negative = discharge
    soc_pct: int | None
    protocol: str
    received_at: int
    signed_data: str | None = None
    signature: str | None = None
    public_key: str | None = None


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """An anomaly in a meter series, between two readings (``start_ts`` .. ``end_ts``)."""

    kind: EventKind
    station_id: str
    evse_id: int
    start_ts: int
    end_ts: int
    import_before_wh: int | None
    import_after_wh: int | None
    export_before_wh: int | None
    export_after_wh: int | None
    detail: str


@runtime_checkable
class ReadingSink(Protocol):
    """Destination of readings and meter events; the market store implements it later."""

    async def store(self, reading: MeterReading) -> None: ...

    async def record_event(self, event: MeterEvent) -> None: ...


@runtime_checkable
class ChargingNeedsSink(Protocol):
    """A sink that also keeps EV charging needs (both sinks here do; a bare one may not)."""

    async def store_charging_needs(self, needs: EvChargingNeeds) -> None: ...


class InMemorySink:
    """Keeps everything in lists; for tests and the benchmark's counting."""

    def __init__(self) -> None:
        self.readings: list[MeterReading] = []
        self.events: list[MeterEvent] = []
        self.charging_needs: list[EvChargingNeeds] = []

    async def store_charging_needs(self, needs: EvChargingNeeds) -> None:
        self.charging_needs.append(needs)

    async def store(self, reading: MeterReading) -> None:
        self.readings.append(reading)

    async def record_event(self, event: MeterEvent) -> None:
        self.events.append(event)

    def series(self, station_id: str, evse_id: int) -> list[MeterReading]:
        """Readings of one EVSE in arrival order."""
        return [r for r in self.readings if r.station_id == station_id and r.evse_id == evse_id]


_READING_FIELDS = tuple(MeterReading.__dataclass_fields__)

#: The one definition of ``meter_readings``, ``meter_events`` and ``ev_charging_needs``. The
#: adapter owns it because ``adapters`` must not import ``market``; the market store maps its
#: ORM classes onto these Table objects (market/store/models/metering.py) and its migrations
#: create them.
metadata = sa.MetaData()

meter_readings = sa.Table(
    "meter_readings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("import_wh", sa.BigInteger, nullable=False),
    sa.Column("export_wh", sa.BigInteger, nullable=False),
    sa.Column("power_w", sa.BigInteger, nullable=False),
    sa.Column("soc_pct", sa.Integer, nullable=True),
    sa.Column("signed_data", sa.Text, nullable=True),
    sa.Column("signature", sa.Text, nullable=True),
    sa.Column("public_key", sa.Text, nullable=True),
    sa.Column("protocol", sa.String(16), nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Index("ix_meter_readings_station_evse_ts", "station_id", "evse_id", "timestamp"),
)

meter_events = sa.Table(
    "meter_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("start_ts", sa.BigInteger, nullable=False),
    sa.Column("end_ts", sa.BigInteger, nullable=False),
    sa.Column("import_before_wh", sa.BigInteger, nullable=True),
    sa.Column("import_after_wh", sa.BigInteger, nullable=True),
    sa.Column("export_before_wh", sa.BigInteger, nullable=True),
    sa.Column("export_after_wh", sa.BigInteger, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
)

ev_charging_needs = sa.Table(
    "ev_charging_needs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("protocol", sa.String(16), nullable=False),
    sa.Column("requested_energy_transfer", sa.String(32), nullable=False),
    sa.Column("departure_unix", sa.BigInteger, nullable=True),
    sa.Column("energy_amount_wh", sa.BigInteger, nullable=True),
    sa.Column("min_charge_power_w", sa.BigInteger, nullable=True),
    sa.Column("max_charge_power_w", sa.BigInteger, nullable=True),
    sa.Column("min_discharge_power_w", sa.BigInteger, nullable=True),
    sa.Column("max_discharge_power_w", sa.BigInteger, nullable=True),
    sa.Column("target_soc_pct", sa.Integer, nullable=True),
    sa.Column("control_mode", sa.String(32), nullable=True),
    sa.Column("mobility_needs_mode", sa.String(32), nullable=True),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Index("ix_ev_charging_needs_station_evse", "station_id", "evse_id", "received_at"),
)


class SqlReadingSink:
    """Writes readings to ``meter_readings`` (and events to ``meter_events``) in batches.

    Why batches: one INSERT + commit per sample caps SQLite at a few hundred rows/s, far below
    a thousand stations; rows are buffered and flushed by ``executemany`` in a worker thread.
    Call :meth:`flush` (or :meth:`close`) before reading the table back.

    ``create_tables``: a standalone CSMS (no market store) creates its tables itself; in
    the market store they exist already, made by its Alembic migrations, so it passes False.
    """

    def __init__(
        self,
        engine: Engine | str,
        *,
        batch_size: int = 2000,
        flush_interval_s: float = 0.25,
        create_tables: bool = True,
    ) -> None:
        self.engine = sa.create_engine(engine) if isinstance(engine, str) else engine
        if self.engine.dialect.name == "sqlite":
            with self.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        if create_tables:
            metadata.create_all(self.engine)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self._readings: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self.stored = 0

    async def store(self, reading: MeterReading) -> None:
        self._readings.append({name: getattr(reading, name) for name in _READING_FIELDS})
        self._ensure_flusher()
        if len(self._readings) >= self.batch_size:
            await self.flush()

    async def record_event(self, event: MeterEvent) -> None:
        self._events.append(asdict(event))
        self._ensure_flusher()

    async def store_charging_needs(self, needs: EvChargingNeeds) -> None:
        """Written at once (one per plug-in, not a stream), off the event loop."""
        await asyncio.to_thread(self._write_needs, asdict(needs))

    def _write_needs(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(ev_charging_needs.insert(), [row])

    def load_charging_needs(self, station_id: str, evse_id: int) -> list[EvChargingNeeds]:
        """One EVSE's charging needs, oldest first."""
        cols = [c for c in ev_charging_needs.c if c.name != "id"]
        stmt = (
            sa.select(*cols)
            .where(
                ev_charging_needs.c.station_id == station_id,
                ev_charging_needs.c.evse_id == evse_id,
            )
            .order_by(ev_charging_needs.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [EvChargingNeeds(**dict(r)) for r in rows]

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def flush(self) -> None:
        """Write everything buffered so far."""
        async with self._lock:
            readings, self._readings = self._readings, []
            events, self._events = self._events, []
            if readings or events:
                await asyncio.to_thread(self._write, readings, events)
                self.stored += len(readings)

    def _write(self, readings: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            if readings:
                conn.execute(meter_readings.insert(), readings)
            if events:
                conn.execute(meter_events.insert(), events)

    async def close(self) -> None:
        """Flush and stop the background flusher."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()

    def count(self) -> int:
        """Rows in ``meter_readings`` (flushed ones only)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(meter_readings)).one()[0]
            )

    def load_events(self) -> list[MeterEvent]:
        """All recorded meter events, oldest first."""
        cols = [c for c in meter_events.c if c.name != "id"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*cols).order_by(meter_events.c.id)).mappings().all()
        return [MeterEvent(**dict(r)) for r in rows]

    def load_readings(self, station_id: str, evse_id: int) -> list[MeterReading]:
        """One EVSE's readings ordered by timestamp."""
        cols = [c for c in meter_readings.c if c.name != "id"]
        stmt = (
            sa.select(*cols)
            .where(meter_readings.c.station_id == station_id, meter_readings.c.evse_id == evse_id)
            .order_by(meter_readings.c.timestamp, meter_readings.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [MeterReading(**dict(r)) for r in rows]


class ReadingIngestor:
    """Checks each EVSE's series for gaps, register resets and late clocks, then stores.

    The reading itself is always stored as received; the anomaly is an extra event, so the
    verifier can tell "no data" and "counter restarted" from "no energy".
    """

    def __init__(
        self,
        sink: ReadingSink,
        *,
        expected_interval_s: int,
        gap_factor: float = 1.5,
        late_clock_tolerance_s: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        if expected_interval_s <= 0:
            raise ValueError(f"expected_interval_s: must be > 0, got {expected_interval_s}")
        self.sink = sink
        self.expected_interval_s = expected_interval_s
        self.gap_threshold_s = int(expected_interval_s * gap_factor)
        self.late_clock_tolerance_s = late_clock_tolerance_s
        self.clock = clock or SystemClock()
        self._last: dict[tuple[str, int], MeterReading] = {}
        self.stored = 0

    def last(self, station_id: str, evse_id: int) -> MeterReading | None:
        """The latest (by station time) reading of one EVSE, if any."""
        return self._last.get((station_id, evse_id))

    async def ingest(self, reading: MeterReading) -> list[MeterEvent]:
        """Store one reading; return the anomaly events it revealed (also recorded)."""
        events: list[MeterEvent] = []
        key = (reading.station_id, reading.evse_id)
        last = self._last.get(key)
        if last is not None:
            if reading.timestamp - last.timestamp > self.gap_threshold_s:
                events.append(
                    self._event(
                        "gap",
                        last,
                        reading,
                        f"no samples for {reading.timestamp - last.timestamp} s",
                    )
                )
            if reading.import_wh < last.import_wh or reading.export_wh < last.export_wh:
                events.append(
                    self._event("register_reset", last, reading, "energy register went backwards")
                )
        tol = self.late_clock_tolerance_s
        if tol is not None and reading.received_at - reading.timestamp > tol:
            events.append(
                MeterEvent(
                    kind="late_clock",
                    station_id=reading.station_id,
                    evse_id=reading.evse_id,
                    start_ts=reading.timestamp,
                    end_ts=reading.received_at,
                    import_before_wh=None,
                    import_after_wh=reading.import_wh,
                    export_before_wh=None,
                    export_after_wh=reading.export_wh,
                    detail=f"station time {reading.received_at - reading.timestamp} s behind",
                )
            )
        if last is None or reading.timestamp >= last.timestamp:
            self._last[key] = reading
        for event in events:
            await self.sink.record_event(event)
        await self.sink.store(reading)
        self.stored += 1
        return events

    @staticmethod
    def _event(
        kind: EventKind, before: MeterReading, after: MeterReading, detail: str
    ) -> MeterEvent:
        return MeterEvent(
            kind=kind,
            station_id=after.station_id,
            evse_id=after.evse_id,
            start_ts=before.timestamp,
            end_ts=after.timestamp,
            import_before_wh=before.import_wh,
            import_after_wh=after.import_wh,
            export_before_wh=before.export_wh,
            export_after_wh=after.export_wh,
            detail=detail,
        )
