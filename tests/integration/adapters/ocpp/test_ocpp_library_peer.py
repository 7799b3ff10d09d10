"""Issue 17, second peer: the ``ocpp`` library's own ChargePoint as a station, all versions.

The CSMS checks schemas at its websocket boundary and skips the library's validation; this
station keeps the library's validation on, so every answer and request of the CSMS is also
checked by the library's (pure-Python jsonschema) path. Covers the classes that are not
frame-level: notifications answered empty, DataTransfer to an unknown vendor, a lower-case
RFC 3339 timestamp stored, a dispatched profile received and a partial composite schedule.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as V21ChargePoint
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as V201ChargePoint
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import connect

from adapters.clock import SystemClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.handlers.routing import on
from adapters.ocpp.orders import DispatchStatus, IspSetpoint
from adapters.ocpp.sink import InMemorySink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PW = "library-peer-pw"
ISP_S = 900
STAMP = "2026-12-03t11:16:16z"  # lower case: RFC 3339 allows it
STAMP_UNIX = 1796296576


class _Answers:
    """CSMS -> station calls this station accepts; what arrived is kept."""

    results: Any
    profiles: list[dict[str, Any]]

    @on("SetChargingProfile", skip_schema_validation=False)
    def on_set_charging_profile(self, **payload: Any) -> Any:
        self.profiles.append(payload)
        return self.results.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule", skip_schema_validation=False)
    def on_get_composite_schedule(self, **_: Any) -> Any:
        return self.results.GetCompositeSchedule(status="Accepted")  # no schedule: partial

    @on("ClearChargingProfile", skip_schema_validation=False)
    def on_clear_charging_profile(self, **_: Any) -> Any:
        return self.results.ClearChargingProfile(status="Accepted")


class Station16(_Answers, V16ChargePoint):  # type: ignore[misc]  # ocpp ships no types
    results = result16


class Station201(_Answers, V201ChargePoint):  # type: ignore[misc]
    results = result201


class Station21(_Answers, V21ChargePoint):  # type: ignore[misc]
    results = result21


def _requests(protocol: str) -> list[tuple[Any, dict[str, Any]]]:
    """(request, expected answer fields) in order; the library checks both directions."""
    if protocol == "ocpp1.6":
        c: Any = call16
        meter = c.MeterValues(connector_id=1, meter_value=[{"timestamp": STAMP, "sampled_value": [
            {"value": "1500", "measurand": "Energy.Active.Import.Register"}]}])  # fmt: skip
        return [
            (c.BootNotification(charge_point_vendor="lib", charge_point_model="peer"),
             {"status": "Accepted"}),
            (c.DiagnosticsStatusNotification(status="Uploaded"), {}),
            (c.FirmwareStatusNotification(status="Installed"), {}),
            (c.SecurityEventNotification(type="FirmwareUpdated", timestamp=STAMP,
                                         tech_info="v2"), {}),  # the library requires it
            (c.DataTransfer(vendor_id="com.example"), {"status": "UnknownVendorId"}),
            (c.StartTransaction(connector_id=1, id_tag="TAG", meter_start=1000,
                                timestamp=STAMP), {}),
            (meter, {}),
        ]  # fmt: skip
    c = call21 if protocol == "ocpp2.1" else call201
    meter = c.MeterValues(evse_id=1, meter_value=[{"timestamp": STAMP, "sampled_value": [
        {"value": 1500, "measurand": "Energy.Active.Import.Register"}]}])  # fmt: skip
    event = {"event_id": 1, "timestamp": STAMP, "trigger": "Alerting", "actual_value": "1",
             "event_notification_type": "HardWiredNotification",
             "component": {"name": "EVSE"}, "variable": {"name": "Temperature"}}  # fmt: skip
    return [
        (c.BootNotification(charging_station={"vendor_name": "lib", "model": "peer"},
                            reason="PowerUp"), {"status": "Accepted"}),
        (c.SecurityEventNotification(type="FirmwareUpdated", timestamp=STAMP), {}),
        (c.NotifyEvent(generated_at=STAMP, seq_no=0, event_data=[event]), {}),
        (c.FirmwareStatusNotification(status="Installed"), {}),
        (c.LogStatusNotification(status="Uploaded"), {}),
        (c.DataTransfer(vendor_id="com.example"), {"status": "UnknownVendorId"}),
        (c.TransactionEvent(event_type="Started", timestamp=STAMP,
                            trigger_reason="CablePluggedIn", seq_no=0,
                            transaction_info={"transaction_id": "lib-tx"},
                            evse={"id": 1, "connector_id": 1}), {}),
        (meter, {}),
    ]  # fmt: skip


STATIONS = {"ocpp1.6": Station16, "ocpp2.0.1": Station201, "ocpp2.1": Station21}


@pytest.mark.parametrize("protocol", list(STATIONS))
async def test_library_charge_point_against_csms(protocol: str) -> None:
    sink = InMemorySink()
    csms = Csms(credentials={"LIB-1": PW}, clock=SystemClock(), sink=sink)
    await csms.start()
    token = base64.b64encode(f"LIB-1:{PW}".encode()).decode()
    ws = await connect(
        f"{csms.url}/LIB-1",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Basic {token}"},
        proxy=None,
    )
    station: Any = STATIONS[protocol]("LIB-1", ws, response_timeout=10)
    station.profiles = []
    serving = asyncio.create_task(station.start())
    try:
        for request, expected in _requests(protocol):
            answer = await station.call(request, suppress=False)
            for name, value in expected.items():
                assert getattr(answer, name) == value, (request, answer)
        assert [(r.timestamp, r.import_wh) for r in sink.series("LIB-1", 1)][-1] == (
            STAMP_UNIX,
            1500,
        )
        start = (int(time.time()) // ISP_S + 1) * ISP_S
        outcome = await csms.dispatcher.dispatch({("LIB-1", 1): [IspSetpoint(start, ISP_S, 5_000)]})
        assert [i.status for i in outcome[("LIB-1", 1)]] == [DispatchStatus.ACCEPTED]
        assert len(station.profiles) == 1
        assert csms.stats["bad_frames"] == 0 and csms.stats["bad_answers"] == 0
        assert not serving.done(), "the station kept serving"
    finally:
        serving.cancel()
        await ws.close()
        await csms.stop()
