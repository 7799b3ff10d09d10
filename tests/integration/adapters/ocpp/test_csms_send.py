"""Issue 17 item 5: ``flexmarket csms send`` against a running CSMS process and a station.

The CSMS runs as ``flexmarket csms --dev --admin-socket S``; the station is the ``ocpp``
library's ChargePoint (2.0.1, library validation on) and records what it was sent. Each of
the seven operations reaches it and its answer comes back as JSON; mistakes are reported as
the field and the reason, and the admin socket is the operator's only (0600).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import ChargePoint
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from typer.testing import CliRunner
from websockets.asyncio.client import connect

from adapters.ocpp.handlers.routing import on
from adapters.ports import free_port
from market.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[4]
STATION = "CS00001"


class Station(ChargePoint):  # type: ignore[misc]  # ocpp ships no types
    """Accepts every operator request and keeps (action, payload) of each."""

    received: list[tuple[str, dict[str, Any]]]

    @on("RequestStartTransaction", skip_schema_validation=False)
    def on_start(self, **payload: Any) -> Any:
        self.received.append(("RequestStartTransaction", payload))
        return result201.RequestStartTransaction(status="Accepted", transaction_id="tx-1")

    @on("RequestStopTransaction", skip_schema_validation=False)
    def on_stop(self, **payload: Any) -> Any:
        self.received.append(("RequestStopTransaction", payload))
        return result201.RequestStopTransaction(status="Accepted")

    @on("SetChargingProfile", skip_schema_validation=False)
    def on_set(self, **payload: Any) -> Any:
        self.received.append(("SetChargingProfile", payload))
        return result201.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile", skip_schema_validation=False)
    def on_clear(self, **payload: Any) -> Any:
        self.received.append(("ClearChargingProfile", payload))
        return result201.ClearChargingProfile(status="Unknown")

    @on("GetCompositeSchedule", skip_schema_validation=False)
    def on_composite(self, **payload: Any) -> Any:
        self.received.append(("GetCompositeSchedule", payload))
        return result201.GetCompositeSchedule(status="Rejected")

    @on("TriggerMessage", skip_schema_validation=False)
    def on_trigger(self, **payload: Any) -> Any:
        self.received.append(("TriggerMessage", payload))
        return result201.TriggerMessage(status="Accepted")

    @on("Reset", skip_schema_validation=False)
    def on_reset(self, **payload: Any) -> Any:
        self.received.append(("Reset", payload))
        return result201.Reset(status="Scheduled")


PROFILE = {
    "id": 11,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-12-05T00:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}],
        }
    ],
}
OPERATIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("RequestStartTransaction",
     {"idToken": {"idToken": "TAG1", "type": "ISO14443"}, "remoteStartId": 7, "evseId": 1},
     {"status": "Accepted", "transactionId": "tx-1"}),
    ("RequestStopTransaction", {"transactionId": "tx-1"}, {"status": "Accepted"}),
    ("SetChargingProfile", {"evseId": 1, "chargingProfile": PROFILE}, {"status": "Accepted"}),
    ("ClearChargingProfile", {"chargingProfileId": 11}, {"status": "Unknown"}),
    ("GetCompositeSchedule", {"duration": 3600, "evseId": 1, "chargingRateUnit": "W"},
     {"status": "Rejected"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification",
                        "evse": {"id": 1, "connectorId": 1}}, {"status": "Accepted"}),
    ("Reset", {"type": "Immediate"}, {"status": "Scheduled"}),
]  # fmt: skip


@pytest.fixture
def running_csms(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``flexmarket csms --dev`` with an admin socket: (station URL, socket path)."""
    port, admin = free_port(), tmp_path / "admin.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_CSMS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "market.cli", "csms", "--dev", "--port", str(port),
         "--admin-socket", str(admin), "--status-every-s", "3600"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not admin.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "CSMS did not start"
        time.sleep(0.1)
    try:
        yield f"ws://127.0.0.1:{port}", admin
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        assert not admin.exists(), "the admin socket is removed on exit"


async def _send(admin: Path, station: str, action: str, payload: Any) -> tuple[int, Any]:
    """``flexmarket csms send`` (in a thread: the station keeps serving meanwhile)."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    args = ["csms", "send", station, action, "--json", body, "--admin-socket", str(admin)]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


async def test_every_operation_reaches_the_station(running_csms: tuple[str, Path]) -> None:
    url, admin = running_csms
    assert stat.S_IMODE(admin.stat().st_mode) == 0o600
    token = base64.b64encode(f"{STATION}:secret".encode()).decode()
    async with connect(
        f"{url}/{STATION}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Basic {token}"},
        proxy=None,
    ) as ws:
        station = Station(STATION, ws, response_timeout=10)
        station.received = []
        serving = asyncio.create_task(station.start())
        try:
            await station.call(call201.BootNotification(
                charging_station={"vendor_name": "t", "model": "m"}, reason="PowerUp"))  # fmt: skip
            for action, payload, expected in OPERATIONS:
                code, answer = await _send(admin, STATION, action, payload)
                assert (code, answer) == (0, expected), action
            assert [action for action, _ in station.received] == [op[0] for op in OPERATIONS]
            assert station.received[0][1]["id_token"] == {"id_token": "TAG1", "type": "ISO14443"}

            # mistakes name the field and the reason; nothing reaches the station
            code, answer = await _send(admin, STATION, "Reset", {"type": "Sometime"})
            assert code == 1 and answer["error"]["field"] == "payload.type"
            assert "Sometime" in answer["error"]["reason"]
            code, answer = await _send(admin, STATION, "RequestStartTransaction", {})
            assert code == 1 and answer["error"]["field"] == "payload"
            assert "required" in answer["error"]["reason"]
            code, answer = await _send(admin, STATION, "UnlockConnector", {})
            assert code == 1 and answer["error"]["field"] == "action"
            code, answer = await _send(admin, STATION, "Reset", "{not json")
            assert code == 1 and answer["error"]["field"] == "--json"
            code, answer = await _send(admin, "CS00002", "Reset", {"type": "Immediate"})
            assert code == 1 and answer["error"]["field"] == "station"
            assert "not connected" in answer["error"]["reason"]
            assert len(station.received) == len(OPERATIONS)
        finally:
            serving.cancel()


def test_send_without_a_running_csms_names_the_socket(tmp_path: Path) -> None:
    args = ["csms", "send", STATION, "Reset", "--json", '{"type": "Immediate"}',
            "--admin-socket", str(tmp_path / "none.sock")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[-1])["error"]["field"] == "--admin-socket"
