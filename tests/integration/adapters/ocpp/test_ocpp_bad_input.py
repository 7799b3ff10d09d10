"""Acceptance 3: broken frames get the right CallError; nothing stored; nobody else affected."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from ocpp_testkit import PASSWORD, ev, running, sleep_until
from websockets.asyncio.client import connect

from adapters.ocpp.simulator.spec import EvseSpec, StationSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GOOD_21 = {
    "evseId": 1,
    "meterValue": [
        {
            "timestamp": "2030-01-01T00:00:00Z",
            "sampledValue": [{"value": 5, "measurand": "Energy.Active.Import.Register"}],
        }
    ],
}

# (protocol, frame, expected error code, expected message id)
CASES = [
    ("ocpp2.1", "{not json", "FormatViolation", "-1"),
    ("ocpp2.1", '[2,"u1","FlyToTheMoon",{}]', "NotImplemented", "u1"),
    ("ocpp2.1", '[2,"u2","MeterValues",{"evseId":1}]', "ProtocolError", "u2"),
    ("ocpp2.1", '[2,"u3","MeterValues",{"evseId":"one","meterValue":[]}]',
     "TypeConstraintViolation", "u3"),
    ("ocpp2.1", json.dumps([2, "u4", "MeterValues", dict(GOOD_21, bogus=1)]),
     "FormatViolation", "u4"),
    ("ocpp2.1", '[2,"u5"]', "ProtocolError", "u5"),
    ("ocpp2.0.1", "][", "FormatViolation", "-1"),
    ("ocpp2.0.1", '[2,"v1","NoSuchAction",{}]', "NotImplemented", "v1"),
    ("ocpp2.0.1", json.dumps([2, "v2", "MeterValues", {"meterValue": GOOD_21["meterValue"]}]),
     "ProtocolError", "v2"),
    ("ocpp1.6", "{{{", "FormationViolation", "-1"),
    ("ocpp1.6", '[2,"w1","Teleport",{}]', "NotImplemented", "w1"),
    ("ocpp1.6", '[2,"w2","MeterValues",{"connectorId":1}]', "ProtocolError", "w2"),
]  # fmt: skip


def _auth(user: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_bad_frames_answered_with_call_errors(t0: int, clock) -> None:
    neighbour = StationSpec("NEIGHBOUR", PASSWORD, "ocpp2.1", [EvseSpec(1, ev(t0))])
    raw_ids = {p: f"RAW-{p}" for p in ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")}
    specs = [neighbour] + [
        StationSpec(sid, PASSWORD, p, [EvseSpec(1)]) for p, sid in raw_ids.items()
    ]
    # Only the neighbour runs as a simulator; the RAW stations are driven by hand below.
    async with running([neighbour], clock) as (csms, fleet):
        for spec in specs[1:]:
            csms.add_station(spec.station_id, spec.password)
        before = fleet["NEIGHBOUR"].readings_sent
        sockets = {}
        for protocol, sid in raw_ids.items():
            sockets[protocol] = await connect(
                f"{csms.url}/{sid}",
                subprotocols=[protocol],  # type: ignore[list-item]
                additional_headers=_auth(sid),
                proxy=None,
            )
        try:
            stored_before = len(csms.sink.readings)
            raw_stored = 0
            for protocol, frame, code, uid in CASES:
                ws = sockets[protocol]
                await ws.send(frame)
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert reply[0] == 4, (frame, reply)
                assert reply[1] == uid, (frame, reply)
                assert reply[2] == code, (frame, reply)
            # Same connections still work: a valid Heartbeat and a valid MeterValues.
            for ws in sockets.values():
                await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert reply[0] == 3 and reply[1] == "hb" and "currentTime" in reply[2]
            await sockets["ocpp2.1"].send(json.dumps([2, "ok", "MeterValues", GOOD_21]))
            reply = json.loads(await asyncio.wait_for(sockets["ocpp2.1"].recv(), 5))
            assert reply == [3, "ok", {}]
            # Meter values inside a TransactionEvent are readings too (2.0.1 here).
            tx = {"eventType": "Started", "timestamp": "2030-01-01T00:01:00Z",
                  "triggerReason": "CablePluggedIn", "seqNo": 0,
                  "transactionInfo": {"transactionId": "t-1"}, "evse": {"id": 1, "connectorId": 1},
                  "meterValue": [{"timestamp": "2030-01-01T00:01:00Z", "sampledValue": [
                      {"value": 7.0, "measurand": "Energy.Active.Import.Register",
                       "unitOfMeasure": {"unit": "kWh", "multiplier": 0}}]}]}  # fmt: skip
            await sockets["ocpp2.0.1"].send(json.dumps([2, "tx", "TransactionEvent", tx]))
            reply = json.loads(await asyncio.wait_for(sockets["ocpp2.0.1"].recv(), 5))
            assert reply == [3, "tx", {}]
            assert csms.session(raw_ids["ocpp2.0.1"]).evse(1).transaction_id == "t-1"
            raw_stored = 2
            # Nothing from the broken frames was stored.
            raw_readings = [r for r in csms.sink.readings if r.station_id.startswith("RAW-")]
            assert len(raw_readings) == raw_stored
            assert [r.import_wh for r in raw_readings] == [5, 7000]
            assert csms.stats["bad_frames"] == len(CASES)
            assert len(csms.sink.readings) >= stored_before + raw_stored
        finally:
            for ws in sockets.values():
                await ws.close()
        # The neighbour kept metering undisturbed all along.
        await sleep_until(clock, clock.now() + 300)
        assert fleet["NEIGHBOUR"].readings_sent >= before + 4
        assert fleet["NEIGHBOUR"].errors == []
        neighbour_readings = csms.sink.series("NEIGHBOUR", 1)
        assert len(neighbour_readings) == fleet["NEIGHBOUR"].readings_sent
        assert not [e for e in csms.sink.events if e.station_id == "NEIGHBOUR"]
