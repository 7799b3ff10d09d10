"""Issue 17, classes 1 and 6-8: frame-level conformance against npm ocpp-rpc in strict mode.

Bad timestamps get a CallError with the connection kept and nothing stored; DataTransfer to
an unknown vendor gets ``UnknownVendorId``; OCPP 2.1 SEND and CALLRESULTERROR frames are not
answered while unknown message types get ``MessageTypeNotSupported``; station ids over 36
characters are refused; the notifications every station sends get the spec's empty answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from scripted_peer import needs_node, scripted_peer

from adapters.clock import SystemClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.sink import InMemorySink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90), needs_node]

PROTOCOLS = ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]
PW = "conformance-pw"
FORMAT_CODE = {"ocpp1.6": "FormationViolation"}


def _boot(protocol: str) -> tuple[str, dict[str, Any]]:
    if protocol == "ocpp1.6":
        return "BootNotification", {"chargePointVendor": "rpc", "chargePointModel": "strict"}
    return "BootNotification", {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "rpc", "model": "strict"},
    }


def _meter_values(protocol: str, timestamp: str, wh: int = 5) -> dict[str, Any]:
    key = "connectorId" if protocol == "ocpp1.6" else "evseId"
    value: Any = str(wh) if protocol == "ocpp1.6" else wh
    return {
        key: 1,
        "meterValue": [
            {
                "timestamp": timestamp,
                "sampledValue": [{"value": value, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }


BAD_TIMESTAMPS = [
    "yesterday",
    "2026-13-03T11:16:16Z",  # month 13
    "2026-02-30T11:16:16Z",  # no such day
    "2026-12-03T11:16:16",  # no offset
    "2026-12-03 11:16:16Z",  # not RFC 3339's separator
    "2026-12-03T24:00:00Z",
    "2026-12-03T11:16:60Z",  # a leap second only ends a UTC day
    "2026-12-03T11:16:16+0100",
    "",
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_bad_timestamps_get_call_error_and_connection_stays(protocol: str) -> None:
    sink = InMemorySink()
    csms = Csms(credentials={"TS-1": PW}, clock=SystemClock(), sink=sink)
    await csms.start()
    try:
        async with scripted_peer(csms.url, "TS-1", PW, protocol) as peer:
            assert (await peer.call(*_boot(protocol)))["event"] == "result"
            code = FORMAT_CODE.get(protocol, "FormatViolation")
            for n, stamp in enumerate(BAD_TIMESTAMPS):
                frame = json.dumps([2, f"bad-{n}", "MeterValues", _meter_values(protocol, stamp)])
                reply = await peer.raw(frame)
                assert reply is not None and reply[:3] == [4, f"bad-{n}", code], (stamp, reply)
            if protocol != "ocpp1.6":  # a bad timestamp outside the meter values too
                status = {"timestamp": "now", "connectorStatus": "Available", "evseId": 1,
                          "connectorId": 1}  # fmt: skip
                reply = await peer.raw(json.dumps([2, "st", "StatusNotification", status]))
                assert reply is not None and reply[:3] == [4, "st", code], reply
            assert sink.readings == []
            assert csms.session("TS-1").evse(1).status is None
            # RFC 3339 allows lower-case t and z, and 23:59:60 at a leap second.
            for stamp, wh in (("2026-12-03t11:16:16z", 7), ("2016-12-31T23:59:60Z", 8)):
                answer = await peer.call("MeterValues", _meter_values(protocol, stamp, wh))
                assert answer == {"event": "result", "id": answer["id"], "result": {}}, answer
            # ajv refuses to send a leap second in local time, RFC 3339 section 5.7 allows it.
            leap = _meter_values(protocol, "2016-12-31T18:59:60-05:00", 9)
            assert await peer.raw(json.dumps([2, "leap", "MeterValues", leap])) == [3, "leap", {}]
            assert [(r.timestamp, r.import_wh) for r in sink.readings] == [
                (1796296576, 7),
                (1483228800, 8),
                (1483228800, 9),
            ]
            assert (await peer.call("Heartbeat", {}))["event"] == "result"
            done = await peer.close()
            assert done["failures"] == []
    finally:
        await csms.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_data_transfer_to_unknown_vendor(protocol: str) -> None:
    csms = Csms(credentials={"DT-1": PW}, clock=SystemClock())
    await csms.start()
    try:
        async with scripted_peer(csms.url, "DT-1", PW, protocol) as peer:
            answer = await peer.call("DataTransfer", {"vendorId": "com.example", "data": "x"})
            assert answer["event"] == "result", answer
            assert answer["result"] == {"status": "UnknownVendorId"}
            assert (await peer.close())["failures"] == []
    finally:
        await csms.stop()


async def test_message_types_on_ocpp21_and_201() -> None:
    csms = Csms(credentials={"MT-21": PW, "MT-201": PW}, clock=SystemClock())
    await csms.start()
    try:
        async with scripted_peer(csms.url, "MT-21", PW, "ocpp2.1") as peer:
            stream = {"id": 1, "pending": 0, "basetime": "2026-12-03T11:16:16Z",
                      "data": [{"t": 0, "v": "1"}]}  # fmt: skip
            assert await peer.raw(json.dumps([6, "s1", "NotifyPeriodicEventStream", stream]),
                                  answered=False) is None  # fmt: skip
            assert await peer.raw('[5,"e1","FormatViolation","bad result",{}]',
                                  answered=False) is None  # fmt: skip
            reply = await peer.raw('[7,"x1","Whatever",{}]')
            assert reply is not None and reply[:3] == [4, "x1", "MessageTypeNotSupported"]
            reply = await peer.raw('[99,"x2"]')
            assert reply is not None and reply[:3] == [4, "x2", "MessageTypeNotSupported"]
            assert (await peer.call("Heartbeat", {}))["event"] == "result"
            assert (await peer.close())["failures"] == []
        async with scripted_peer(csms.url, "MT-201", PW, "ocpp2.0.1") as peer:
            reply = await peer.raw(json.dumps([6, "s2", "NotifyPeriodicEventStream", stream]))
            assert reply is not None and reply[:3] == [4, "s2", "MessageTypeNotSupported"]
            assert (await peer.call("Heartbeat", {}))["event"] == "result"
            assert (await peer.close())["failures"] == []
        assert csms.stats["unanswered_frames"] == 2
    finally:
        await csms.stop()


async def test_station_ids_over_36_characters_refused() -> None:
    ok_id, bad_ids = "S-_=+|@.*" + "7" * 27, ["L" * 37, "CS:1", "CS 1", "CS/1"]
    csms = Csms(credentials={ok_id: PW, **dict.fromkeys(bad_ids, PW)}, clock=SystemClock())
    await csms.start()
    try:
        async with scripted_peer(csms.url, ok_id, PW, "ocpp2.1") as peer:
            assert (await peer.call("Heartbeat", {}))["event"] == "result"
            await peer.close()
        for bad_id in bad_ids:
            with pytest.raises(AssertionError, match=r"peer exited early|open"):
                async with scripted_peer(csms.url, bad_id, PW, "ocpp2.1"):
                    pass
            assert not csms.session(bad_id).connects
        assert csms.stats["refused_station_id"] == len(bad_ids)
    finally:
        await csms.stop()


NOTIFICATIONS_2X: list[tuple[str, dict[str, Any]]] = [
    ("SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": "2026-12-03T11:00:00Z"}),
    ("NotifyEvent", {"generatedAt": "2026-12-03T11:00:00Z", "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": "2026-12-03T11:00:00Z", "trigger": "Alerting",
         "actualValue": "42", "eventNotificationType": "HardWiredNotification",
         "component": {"name": "EVSE"}, "variable": {"name": "Temperature"}}]}),
    ("FirmwareStatusNotification", {"status": "Installed"}),
    ("LogStatusNotification", {"status": "Uploaded"}),
]  # fmt: skip
NOTIFICATIONS_16: list[tuple[str, dict[str, Any]]] = [
    ("FirmwareStatusNotification", {"status": "Installed"}),
    ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
    ("SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": "2026-12-03T11:00:00Z"}),
    ("LogStatusNotification", {"status": "Uploaded"}),
    ("SignedFirmwareStatusNotification", {"status": "Installed"}),
]  # fmt: skip


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_station_notifications_get_empty_answer(protocol: str) -> None:
    csms = Csms(credentials={"NT-1": PW}, clock=SystemClock())
    await csms.start()
    try:
        async with scripted_peer(csms.url, "NT-1", PW, protocol) as peer:
            messages = NOTIFICATIONS_16 if protocol == "ocpp1.6" else NOTIFICATIONS_2X
            for action, payload in messages:
                answer = await peer.call(action, payload)
                assert answer["event"] == "result" and answer["result"] == {}, (action, answer)
            bad = dict(messages[0][1], bogus=1)  # still schema-checked
            reply = await peer.raw(json.dumps([2, "b1", messages[0][0], bad]))
            assert reply is not None and reply[0] == 4, reply
            assert (await peer.close())["failures"] == []
    finally:
        await csms.stop()


async def test_v16_meter_value_that_is_no_number_refused() -> None:
    sink = InMemorySink()
    csms = Csms(credentials={"NN-1": PW}, clock=SystemClock(), sink=sink)
    await csms.start()
    try:
        async with scripted_peer(csms.url, "NN-1", PW, "ocpp1.6") as peer:
            for n, value in enumerate(("abc", "NaN", "1e999")):
                payload = _meter_values("ocpp1.6", "2026-12-03T11:16:16Z")
                payload["meterValue"][0]["sampledValue"][0]["value"] = value
                reply = await peer.raw(json.dumps([2, f"n{n}", "MeterValues", payload]))
                assert reply is not None and reply[:3] == [
                    4,
                    f"n{n}",
                    "PropertyConstraintViolation",
                ]
            assert sink.readings == []
            assert (await peer.call("Heartbeat", {}))["event"] == "result"
            assert (await peer.close())["failures"] == []
    finally:
        await csms.stop()
