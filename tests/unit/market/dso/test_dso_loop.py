"""The long-running loop survives a failed pass: an unreachable market is logged and the
next pass (after ``poll_s``) retries, instead of ending the gateway."""

from __future__ import annotations

from typing import Any, cast

import httpx
import pytest

from market.dso.config import parse_config
from market.dso.gateway import DsoGateway
from market.dso.grid import DsoGrid
from market.participant.errors import ParticipantError
from market.participant.participant import Participant


class _Flaky:
    """A participant whose market is down for the first pass, then has no open session."""

    address = "0x" + "11" * 20

    def __init__(self) -> None:
        self.calls = 0

    def sessions(self, state: str | None = None) -> list[dict[str, Any]]:
        self.calls += 1
        if self.calls == 1:
            raise httpx.ConnectError("connection refused")
        if self.calls == 3:
            raise ParticipantError("sessions", "503 the market is restarting")
        return []


class _Stop(Exception):
    pass


def test_a_failed_pass_is_logged_and_retried_after_poll_s() -> None:
    cfg = parse_config(
        {
            "api_url": "http://127.0.0.1:9",
            "rpc_url": "http://127.0.0.1:9",
            "key_env": "DSO_KEY",
            "grid": {"source": "cigre-lv"},
            "congestion_points": [{"code": "CP", "element": "transformer", "index": 0}],
            "budget": {"max_price_per_mwh": 1, "max_budget_units_per_session": 1},
            "schedule": {"poll_s": 7},
        }
    )
    flaky = _Flaky()
    logged: list[dict[str, Any]] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 4:
            raise _Stop

    gateway = DsoGateway(cast(Participant, flaky), cfg, cast(DsoGrid, None), log=logged.append)
    with pytest.raises(_Stop):
        gateway.run_forever(sleep=sleep, events=lambda after: iter(()))
    assert slept == [7, 7, 7, 7]
    # pass 1: recovery's listing fails (API down); pass 2: recovery lists, the OPEN listing
    # is refused; pass 3 is fine and starts the event stream, which ends at once (twice)
    assert [e["event"] for e in logged] == [
        "pass_failed",
        "pass_failed",
        "stream_failed",
        "stream_failed",
    ]
    assert logged[2]["field"] == "events" and "ended" in logged[2]["reason"]
    assert logged[0]["field"] == "api" and "connection refused" in logged[0]["reason"]
    assert logged[1] == {
        "event": "pass_failed",
        "field": "sessions",
        "reason": "503 the market is restarting",
    }
