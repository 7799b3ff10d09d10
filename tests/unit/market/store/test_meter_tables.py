"""One meter_readings table: the CSMS sink writes what the market store reads, no copy."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from adapters.ocpp.sink import MeterReading, meter_readings
from market.metering import store_sink
from market.store import models as m
from market.store.db import make_engine, upgrade


def test_the_market_maps_the_adapters_table() -> None:
    assert m.MeterReading.__table__ is meter_readings


async def test_sink_rows_are_market_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        sink = store_sink(engine)
        await sink.store(
            MeterReading(
                station_id="CS-1",
                evse_id=2,
                timestamp=1_000,
                import_wh=5_000,
                export_wh=1_000,
                power_w=-7_000,
                soc_pct=55,
                protocol="ocpp2.1",
                received_at=1_001,
            )
        )
        await sink.close()  # type: ignore[attr-defined]
        with Session(engine) as db:
            rows = list(db.exec(select(m.MeterReading)))
        assert [(r.station_id, r.evse_id, r.power_w, r.soc_pct) for r in rows] == [
            ("CS-1", 2, -7_000, 55)
        ]
        assert m.MeterReadingPublic.from_row(rows[0]).protocol == "ocpp2.1"
    finally:
        engine.dispose()
