"""Issue 17, classes 2, 4 and 5: flows against npm ocpp-rpc in strict mode.

A partial GetCompositeSchedule answer neither crashes dispatch nor stops the re-send after a
reboot; OCPP 1.6 meterStart / meterStop are stored and transaction ids are counted per CSMS;
a TransactionEvent of an unknown transaction without an ``evse`` is answered and its meter
values are kept until the transaction's EVSE is known.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from scripted_peer import ScriptedPeer, needs_node, scripted_peer

from adapters.clock import SystemClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.orders import DispatchStatus, IspSetpoint
from adapters.ocpp.sink import InMemorySink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90), needs_node]

PW = "flows-pw"
ISP_S = 900
T0 = "2026-12-03T11:00:00Z"
T0_UNIX = 1796295600


def _boot(protocol: str) -> dict[str, Any]:
    if protocol == "ocpp1.6":
        return {"chargePointVendor": "rpc", "chargePointModel": "strict"}
    return {"reason": "PowerUp", "chargingStation": {"vendorName": "rpc", "model": "strict"}}


async def _start_transactions(peer: ScriptedPeer, protocol: str, evse_ids: list[int]) -> None:
    for evse_id in evse_ids:
        if protocol == "ocpp1.6":
            start = {"connectorId": evse_id, "idTag": "TAG", "meterStart": 0, "timestamp": T0}
            answer = await peer.call("StartTransaction", start)
        else:
            started = _tx_event("Started", f"tx-{evse_id}", evse_id)
            answer = await peer.call("TransactionEvent", started)
        assert answer["event"] == "result", answer


def _tx_event(
    event_type: str, tx_id: str, evse_id: int | None, wh: int | None = None, at: str = T0
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": at,
        "triggerReason": "CablePluggedIn" if event_type == "Started" else "MeterValuePeriodic",
        "seqNo": 0,
        "transactionInfo": {"transactionId": tx_id},
    }
    if evse_id is not None:
        event["evse"] = {"id": evse_id, "connectorId": 1}
    if wh is not None:
        event["meterValue"] = [{"timestamp": at, "sampledValue": [
            {"value": wh, "measurand": "Energy.Active.Import.Register"}]}]  # fmt: skip
    return event


def _schedules(station_id: str, evse_ids: list[int]) -> dict[tuple[str, int], list[IspSetpoint]]:
    start = (int(time.time()) // ISP_S + 1) * ISP_S
    return {(station_id, e): [IspSetpoint(start, ISP_S, 4_000 + e)] for e in evse_ids}


@pytest.mark.parametrize("protocol", ["ocpp2.1", "ocpp1.6"])
async def test_partial_composite_schedule_answer_does_not_crash_dispatch(protocol: str) -> None:
    csms = Csms(credentials={"CS-1": PW}, clock=SystemClock())
    await csms.start()
    try:
        async with scripted_peer(csms.url, "CS-1", PW, protocol) as peer:
            await peer.call("BootNotification", _boot(protocol))
            await _start_transactions(peer, protocol, [1, 2])
            await peer.handle("GetCompositeSchedule", {"status": "Accepted"})  # no schedule
            outcome = await csms.dispatcher.dispatch(_schedules("CS-1", [1, 2]))
            for key, isps in outcome.items():
                assert [i.status for i in isps] == [DispatchStatus.ACCEPTED], key
                assert "composite schedule" in (isps[0].reason or ""), isps
            assert (await peer.close())["failures"] == []
    finally:
        await csms.stop()


async def test_partial_composite_schedule_does_not_stop_resend_after_reboot() -> None:
    csms = Csms(credentials={"RB-1": PW}, clock=SystemClock())
    await csms.start()
    try:
        async with scripted_peer(csms.url, "RB-1", PW, "ocpp2.1") as peer:
            await peer.call("BootNotification", _boot("ocpp2.1"))
            await _start_transactions(peer, "ocpp2.1", [1, 2])
            await peer.handle("GetCompositeSchedule", {"status": "Rejected"})
            outcome = await csms.dispatcher.dispatch(_schedules("RB-1", [1, 2]))
            assert all(i.status == DispatchStatus.ACCEPTED for v in outcome.values() for i in v)
            await peer.close()
        async with scripted_peer(csms.url, "RB-1", PW, "ocpp2.1") as peer:
            await peer.handle("GetCompositeSchedule", {"status": "Accepted"})
            await peer.call("BootNotification", _boot("ocpp2.1"))
            resent = [await peer.wait_for("call_in", action="SetChargingProfile") for _ in (1, 2)]
            assert sorted(c["params"]["evseId"] for c in resent) == [1, 2]
            assert (await peer.close())["failures"] == []
    finally:
        await csms.stop()


async def test_v16_meter_start_stop_stored_and_transaction_ids_per_csms() -> None:
    sinks = [InMemorySink(), InMemorySink()]
    servers = [Csms(credentials={"V16-1": PW}, clock=SystemClock(), sink=s) for s in sinks]
    for csms in servers:
        await csms.start()
    try:
        for csms, sink in zip(servers, sinks, strict=True):
            async with scripted_peer(csms.url, "V16-1", PW, "ocpp1.6") as peer:
                await peer.call("BootNotification", _boot("ocpp1.6"))
                start = {"connectorId": 1, "idTag": "TAG", "meterStart": 1234, "timestamp": T0}
                answer = await peer.call("StartTransaction", start)
                tx_id = answer["result"]["transactionId"]
                assert tx_id == 1, "each CSMS counts its own transaction ids"
                stop = {"transactionId": tx_id, "meterStop": 5678, "reason": "EVDisconnected",
                        "timestamp": "2026-12-03T12:00:00Z"}  # fmt: skip
                assert (await peer.call("StopTransaction", stop))["event"] == "result"
                assert (await peer.close())["failures"] == []
            assert [(r.timestamp, r.import_wh) for r in sink.series("V16-1", 1)] == [
                (T0_UNIX, 1234),
                (T0_UNIX + 3600, 5678),
            ]
            assert csms.session("V16-1").evse(1).transaction_id is None
    finally:
        for csms in servers:
            await csms.stop()


@pytest.mark.parametrize("protocol", ["ocpp2.1", "ocpp2.0.1"])
async def test_unknown_transaction_without_evse_is_answered_and_kept(protocol: str) -> None:
    sink = InMemorySink()
    csms = Csms(credentials={"UT-1": PW}, clock=SystemClock(), sink=sink)
    await csms.start()
    try:
        async with scripted_peer(csms.url, "UT-1", PW, protocol) as peer:
            # A transaction the CSMS never saw start (e.g. it restarted), without an evse.
            answer = await peer.call("TransactionEvent", _tx_event("Updated", "ghost", None, 1000))
            assert answer["event"] == "result" and answer["result"] == {}, answer
            assert sink.readings == []
            later = "2026-12-03T11:01:00Z"
            updated = _tx_event("Updated", "ghost", 2, 1100, at=later)
            answer = await peer.call("TransactionEvent", updated)
            assert answer["event"] == "result", answer
            assert [(r.evse_id, r.timestamp, r.import_wh) for r in sink.readings] == [
                (2, T0_UNIX, 1000),
                (2, T0_UNIX + 60, 1100),
            ]
            assert csms.session("UT-1").evse(2).transaction_id == "ghost"
            # The first event of a transaction must name its EVSE.
            answer = await peer.call("TransactionEvent", _tx_event("Started", "new", None, 5))
            assert answer["event"] == "error", answer
            assert answer["code"] == "OccurrenceConstraintViolation", answer
            # Ended without ever naming the EVSE: answered; what it carried is counted.
            answer = await peer.call("TransactionEvent", _tx_event("Ended", "lost", None, 7))
            assert answer["event"] == "result", answer
            assert len(sink.readings) == 2
            assert csms.stats["unattributed_readings"] == 1
            # An idToken in the event gets its idTokenInfo.
            token = {"idToken": "ABC", "type": "ISO14443"}
            tagged = dict(_tx_event("Updated", "ghost", 2), idToken=token)
            answer = await peer.call("TransactionEvent", tagged)
            assert answer["result"]["idTokenInfo"]["status"] == "Accepted", answer
            assert (await peer.close())["failures"] == []
    finally:
        await csms.stop()
