"""Acceptance 2: an independent OCPP 2.1 station (npm ocpp-rpc, strict mode) against the CSMS.

The peer validates everything it sends and receives against the 2.1 schemas bundled with
ocpp-rpc; the CSMS validates with the ``ocpp`` library's copy. Any violation on either side
fails the test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import pytest

from adapters.clock import SystemClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.orders import DispatchStatus, IspSetpoint

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PEER = Path(__file__).parent / "peer" / "station.js"
ROOT = Path(__file__).resolve().parents[4]
ISP_S = 900


async def _line(proc: asyncio.subprocess.Process, timeout: float = 30) -> dict:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not raw:
        err = await proc.stderr.read() if proc.stderr else b""
        raise AssertionError(f"peer exited early: {err.decode()[-2000:]}")
    return json.loads(raw)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_ocpp_rpc_strict_peer_full_cycle() -> None:
    assert (ROOT / "node_modules" / "ocpp-rpc").is_dir(), "npm ocpp-rpc must be installed"
    csms = Csms(credentials={"PEER-1": "peer-pw"}, clock=SystemClock())
    await csms.start()
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(PEER),
        csms.url,
        "PEER-1",
        "peer-pw",
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        ready = await _line(proc)
        assert ready["event"] == "ready", ready
        session = csms.session("PEER-1")
        assert session.protocol == "ocpp2.1"
        assert session.evse(1).transaction_id == ready["transactionId"]
        needs = csms.charging_needs("PEER-1", 1)
        assert needs is not None and needs.requested_energy_transfer == "AC_BPT"
        assert needs.max_charge_power_w == 11_000 and needs.max_discharge_power_w == 11_000

        start = (int(time.time()) // ISP_S + 1) * ISP_S
        outcome = await csms.dispatcher.dispatch(
            {
                ("PEER-1", 1): [
                    IspSetpoint(start, ISP_S, 7_000),
                    IspSetpoint(start + ISP_S, ISP_S, -6_000),
                ]
            }
        )
        assert [i.status for i in outcome[("PEER-1", 1)]] == [DispatchStatus.CONFIRMED] * 2

        profile = await _line(proc)
        assert profile["event"] == "profile"
        assert profile["purpose"] == "TxProfile"
        assert [p["setpoint"] for p in profile["periods"]] == [7000, -6000]
        assert all(p["operationMode"] == "CentralSetpoint" for p in profile["periods"])

        metered = await _line(proc)
        assert metered["event"] == "metered"
        readings = {r.timestamp: r for r in csms.sink.series("PEER-1", 1)}
        a, b, c = start, start + ISP_S, start + 2 * ISP_S
        assert readings[b].import_wh - readings[a].import_wh == 7_000 * ISP_S // 3600
        assert readings[c].export_wh - readings[b].export_wh == 6_000 * ISP_S // 3600
        assert readings[c].power_w == -6_000
        assert readings[c].soc_pct == 55

        assert await csms.dispatcher.clear("PEER-1", 1)
        done = await _line(proc)
        assert done["event"] == "done", done
        assert done["failures"] == [], done["failures"]
        assert done.get("error") is None, done.get("error")
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert session.evse(1).transaction_id is None
        assert csms.stats["bad_frames"] == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await csms.stop()
