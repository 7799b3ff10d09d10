"""Reading ingestion: gaps, resets and late clocks become events; SQL sink round trip."""

from __future__ import annotations

from adapters.clock import ManualClock
from adapters.ocpp.sink import InMemorySink, MeterReading, ReadingIngestor, SqlReadingSink


def reading(ts: int, imp: int, exp: int = 0, received: int | None = None) -> MeterReading:
    return MeterReading("S", 1, ts, imp, exp, 0, None, "ocpp2.1",
                        received if received is not None else ts)  # fmt: skip


async def test_gap_and_reset_are_events_and_readings_kept_verbatim() -> None:
    sink = InMemorySink()
    ing = ReadingIngestor(sink, expected_interval_s=60, clock=ManualClock())
    for r in (reading(0, 0), reading(60, 100), reading(300, 500), reading(360, 3)):
        await ing.ingest(r)
    assert [r.import_wh for r in sink.readings] == [0, 100, 500, 3]
    assert [(e.kind, e.start_ts, e.end_ts) for e in sink.events] == [
        ("gap", 60, 300),
        ("register_reset", 300, 360),
    ]
    assert sink.events[0].import_after_wh - sink.events[0].import_before_wh == 400


async def test_late_clock_flagged_only_beyond_tolerance() -> None:
    sink = InMemorySink()
    ing = ReadingIngestor(sink, expected_interval_s=60, late_clock_tolerance_s=120)
    await ing.ingest(reading(0, 0, received=100))
    await ing.ingest(reading(60, 1, received=400))
    assert [(e.kind, e.start_ts, e.end_ts) for e in sink.events] == [("late_clock", 60, 400)]


async def test_sql_sink_round_trip(tmp_path) -> None:
    sink = SqlReadingSink(f"sqlite:///{tmp_path / 'r.db'}", batch_size=2)
    ing = ReadingIngestor(sink, expected_interval_s=60)
    for r in (reading(0, 10, 1), reading(60, 20, 2), reading(600, 30, 3)):
        await ing.ingest(r)
    await sink.close()
    assert sink.count() == 3
    assert sink.load_readings("S", 1) == [
        reading(0, 10, 1),
        reading(60, 20, 2),
        reading(600, 30, 3),
    ]
    (gap,) = sink.load_events()
    assert (gap.kind, gap.start_ts, gap.end_ts) == ("gap", 60, 600)
