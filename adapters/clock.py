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
