"""``flexmarket sim stations`` drives a real fleet against a real CSMS (in another thread)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from typer.testing import CliRunner

from adapters.ocpp.csms import Csms
from market.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_sim_stations_command_meters_into_csms() -> None:
    loop = asyncio.new_event_loop()
    csms = Csms(credentials={f"CS{i:05d}": "secret" for i in range(3)})
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(csms.start(), loop).result(10)
        result = CliRunner().invoke(
            app,
            ["sim", "stations", "--url", csms.url, "--count", "3", "--speed", "600",
             "--duration-s", "600", "--protocol", "ocpp2.0.1"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.strip().splitlines()[-1])
        assert summary["stations"] == 3
        assert summary["readings_sent"] >= 3 * 8
        assert len(csms.sink.readings) == summary["readings_sent"]
        assert {r.protocol for r in csms.sink.readings} == {"ocpp2.0.1"}
    finally:
        asyncio.run_coroutine_threadsafe(csms.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
