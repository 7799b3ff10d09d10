"""Drive ``peer/scripted.js`` (npm ocpp-rpc, strict mode) from a test, one command at a time.

Why: conformance checks need a station that no one here wrote; the script validates both
directions against ocpp-rpc's own schemas, and raw frames reach the CSMS byte for byte.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parent / "peer" / "scripted.js"
ROOT = Path(__file__).resolve().parents[4]

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


class ScriptedPeer:
    """One ocpp-rpc station process; every stdout line is an event dict."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._seen = 0

    async def _send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def _read(self, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        if not raw:
            err = await self.proc.stderr.read() if self.proc.stderr else b""
            raise AssertionError(f"peer exited early: {err.decode()[-2000:]}")
        event: dict[str, Any] = json.loads(raw)
        self.events.append(event)
        return event

    async def wait_for(self, event: str, timeout_s: float = 10, **match: Any) -> dict[str, Any]:
        """The next event of this kind (and these fields) not returned before."""
        while True:
            while self._seen < len(self.events):
                candidate = self.events[self._seen]
                self._seen += 1
                if candidate["event"] == event and all(
                    candidate.get(k) == v for k, v in match.items()
                ):
                    return candidate
            await self._read(timeout_s)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A validated call; returns the ``result`` or ``error`` event."""
        call_id = next(self._ids)
        await self._send({"op": "call", "id": call_id, "action": action, "payload": payload})
        while True:
            event = await self._read(15)
            if event["event"] in ("result", "error") and event["id"] == call_id:
                return event

    async def raw(self, frame: str, *, answered: bool = True) -> list[Any] | None:
        """Send ``frame`` unvalidated; return the next inbound frame (None if not answered)."""
        await self._send({"op": "raw", "id": next(self._ids), "frame": frame})
        self._seen = len(self.events)
        if not answered:
            with pytest.raises(TimeoutError):
                await self.wait_for("message", timeout_s=0.5)
            return None
        event = await self.wait_for("message")
        reply: list[Any] = json.loads(event["raw"])
        return reply

    async def handle(self, action: str, response: dict[str, Any]) -> None:
        await self._send({"op": "handle", "action": action, "response": response})

    async def close(self) -> dict[str, Any]:
        await self._send({"op": "close"})
        done = await self.wait_for("done", timeout_s=15)
        return done


@asynccontextmanager
async def scripted_peer(
    url: str, station_id: str, password: str, protocol: str
) -> AsyncIterator[ScriptedPeer]:
    """Start the peer, wait until it is connected; kill it on exit."""
    assert (ROOT / "node_modules" / "ocpp-rpc").is_dir(), "npm ocpp-rpc must be installed"
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        url,
        station_id,
        password,
        protocol,
        cwd=str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    peer = ScriptedPeer(proc)
    try:
        opened = await peer.wait_for("open", timeout_s=15)
        assert opened["protocol"] == protocol, opened
        yield peer
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
