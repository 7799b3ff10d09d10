"""Meter readings: the OCPP adapter's sink writes into the store (posted readings:
tests/integration/market/api/test_meter_readings.py)."""

from __future__ import annotations

import pytest

from adapters.ocpp.sink import MeterReading
from market.metering import store_sink

pytestmark = pytest.mark.integration


async def test_ocpp_sink_readings_are_served_by_the_api(runtime, clients) -> None:
    sink = store_sink(runtime.engine, flush_interval_s=0.05)
    for t in range(3):
        await sink.store(
            MeterReading(
                station_id="CS-1",
                evse_id=1,
                timestamp=1_800_000_000 + 60 * t,
                import_wh=1000 + t,
                export_wh=5 * t,
                power_w=-7000,
                soc_pct=50,
                protocol="ocpp2.1",
                received_at=1_800_000_001 + 60 * t,
            )
        )
    await sink.close()
    readings = clients("outsider").meter_readings("CS-1")
    assert [r["import_wh"] for r in readings] == [1000, 1001, 1002]
    assert readings[0]["protocol"] == "ocpp2.1" and readings[0]["power_w"] == -7000
