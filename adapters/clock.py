"""Injectable clocks, so a simulated market day can run in seconds.

Every component that needs the time takes a ``Clock``; replays pass one ``SimulatedClock`` to
all of them so the market service, the CSMS, the stations and the chain agree on "now".
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of UTC time in Unix seconds, plus a sleep that follows the same time base."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


async def sleep_until(clock: Clock, t: float) -> None:
    """Until ``clock`` reads ``t``. A clock read from elsewhere, which can jump between two
    reads (the chain's, warped by another process), brings its own absolute ``sleep_until``;
    for the others nothing moves their time between ``now()`` and ``sleep``, so
    ``sleep(t - now())`` is exact."""
    own = getattr(clock, "sleep_until", None)
    if own is not None:
        await own(t)
        return
    wait = t - clock.now()
    if wait > 0:
        await clock.sleep(wait)


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class SimulatedClock:
    """Simulated time running ``speed`` times faster than the wall clock from ``start``.

    Why not a stepped clock: the protocol traffic (OCPP, HTTP) is real and concurrent, so time
    must advance on its own; acceleration keeps every component's view consistent.
    """

    def __init__(self, start: float, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed: must be > 0, got {speed}")
        self.start = float(start)
        self.speed = float(speed)
        self._wall_origin = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        return self.start + self._offset + (time.monotonic() - self._wall_origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def advance(self, seconds: float) -> None:
        """Jump forward (never back), e.g. to skip an idle night."""
        if seconds < 0:
            raise ValueError(f"seconds: cannot move a clock backwards ({seconds})")
        self._offset += seconds


class ManualClock:
    """Time that moves only when told to; for deterministic unit tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"seconds: cannot move a clock backwards ({seconds})")
        self._now += seconds


class ChainTimeClock:
    """The chain's time: the latest block's timestamp, read over JSON-RPC.

    Why: in ``flexmarket live`` the orchestrator owns time by warping anvil; every process
    (market, gateways, stations) reads the same latest block time, so a station's meter
    interval ends when the chain says so, not when the wall clock does. ``sleep`` waits
    (polling every ``poll_s`` of wall time) until the chain's time has passed the target,
    however the chain gets there (mined blocks or a warp).
    """

    def __init__(self, rpc_url: str, *, poll_s: float = 0.05, timeout_s: float = 5.0) -> None:
        import httpx  # here: the other clocks need no HTTP stack

        self.rpc_url = rpc_url
        self.poll_s = poll_s
        self._http = httpx.Client(timeout=timeout_s)

    def now(self) -> float:
        answer = self._http.post(
            self.rpc_url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_getBlockByNumber",
                "params": ["latest", False],
            },
        )
        answer.raise_for_status()
        block = answer.json().get("result")
        if not isinstance(block, dict) or "timestamp" not in block:
            raise RuntimeError(f"{self.rpc_url}: no latest block in {answer.text[:200]}")
        return float(int(block["timestamp"], 16))

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.now() + max(0.0, seconds))

    async def sleep_until(self, t: float) -> None:
        """Until the chain's time reaches ``t``. Absolute on purpose: a caller that computed
        ``t - now()`` and then slept that long would overshoot by any warp that landed
        between its two reads, and wait for a time the warping process never goes to."""
        while self.now() < t:
            await asyncio.sleep(self.poll_s)

    def close(self) -> None:
        self._http.close()
