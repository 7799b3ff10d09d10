"""The FSP gateway's station report (``market/fsp/station_report.py``): the ``ocpp`` library's
own ChargePoint connects to the gateway's CSMS over a real websocket, and the market then shows
it connected, with when it was last seen and the power the dispatcher set there; disconnected
once it leaves. Reports go to a real market (store and signature checks) on anvil."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest
from market_helpers import own_station, setup_market
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import connect

from adapters.clock import SystemClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.orders import DispatchStatus, IspSetpoint
from market.fsp.station_report import StationReporter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PW = "station-report-pw"
STATION = "ST-LIB-1"
ISP_S = 900


class Station(ChargePoint):  # type: ignore[misc]  # ocpp ships no types
    """Accepts the dispatcher's charging profile, as a real charger would."""

    @on("SetChargingProfile")
    def on_set_charging_profile(self, **_: Any) -> Any:
        return call_result.SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, **_: Any) -> Any:
        return call_result.GetCompositeSchedule(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **_: Any) -> Any:
        return call_result.ClearChargingProfile(status="Accepted")


async def _until(predicate, what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"not {what} within {timeout_s} s"
        await asyncio.sleep(0.01)


async def test_a_connected_charger_shows_as_connected_with_its_setpoint(
    chain, runtime, clients
) -> None:
    op, fsp = clients("operator"), clients("fsp_a")
    setup_market(op)
    own_station(chain, fsp, "fsp_a", STATION)
    csms = Csms(credentials={STATION: PW}, clock=SystemClock())
    await csms.start()
    sent: list[Any] = []

    def send(body: Any) -> Any:
        sent.append(body)
        return fsp.report_station_status(body)

    reporter = StationReporter(csms, {STATION: [1]}, send, refresh_s=60)

    async def shown() -> dict[str, Any]:
        (row,) = await asyncio.to_thread(fsp.station_status, fsp.address)
        return row

    t0 = int(time.time())
    assert await asyncio.to_thread(reporter.report, t0)
    first = await shown()
    assert (first["connected"], first["last_seen_unix"], first["setpoint_w"]) == (False, None, None)

    token = base64.b64encode(f"{STATION}:{PW}".encode()).decode()
    ws = await connect(
        f"{csms.url}/{STATION}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Basic {token}"},
        proxy=None,
    )
    station = Station(STATION, ws, response_timeout=10)
    serving = asyncio.create_task(station.start())
    try:
        boot = call.BootNotification(
            charging_station={"vendor_name": "lib", "model": "peer"}, reason="PowerUp"
        )
        assert (await station.call(boot)).status == "Accepted"
        await station.call(call.Heartbeat())
        assert await asyncio.to_thread(reporter.report, t0 + 1)
        row = await shown()
        assert (row["connected"], row["last_seen_unix"]) == (True, t0 + 1)
        assert not await asyncio.to_thread(reporter.report, t0 + 2)  # nothing changed: not sent

        start = (int(time.time()) // ISP_S + 1) * ISP_S
        outcome = await csms.dispatcher.dispatch({(STATION, 1): [IspSetpoint(start, ISP_S, 7_000)]})
        assert [i.status for i in outcome[(STATION, 1)]] == [DispatchStatus.ACCEPTED]
        assert await asyncio.to_thread(reporter.report, start + 1)  # the setpoint is in force
        row = await shown()
        assert (row["connected"], row["setpoint_w"]) == (True, 7_000)
    finally:
        serving.cancel()
        await ws.close()
    try:
        await _until(lambda: not csms.sessions[STATION].connected, "disconnected")
        assert await asyncio.to_thread(reporter.report, start + 5)
        row = await shown()
        assert (row["connected"], row["last_seen_unix"]) == (False, start + 1)  # when last there
        assert len(sent) == 4
    finally:
        await csms.stop()
