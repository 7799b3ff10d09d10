"""The replay's simulated time for the CSMS and the stations: it moves only when told to.

Why not ``SimulatedClock``: a clock that runs on its own lets wall-clock jitter decide which
sample a meter reading lands in. Here the replay moves time in meter-interval steps and waits
until every station has sampled, sent and been answered, so each reading is computed on the
exact time grid and two runs produce the same readings.
"""

from __future__ import annotations

import asyncio
import time


class StepClock:
    """``now()`` is the last time set; ``sleep(s)`` returns once time has been moved past it."""

    def __init__(self, start: int) -> None:
        self._now = int(start)
        self._moved: asyncio.Event | None = None

    def now(self) -> float:
        return float(self._now)

    def _event(self) -> asyncio.Event:
        if self._moved is None:
            self._moved = asyncio.Event()
        return self._moved

    async def sleep(self, seconds: float) -> None:
        target = self._now + max(0.0, seconds)
        while self._now < target:
            event = self._event()
            await event.wait()

    def set(self, t: int) -> None:
        """Move time forward to ``t`` (never back) and wake every sleeper."""
        if t < self._now:
            raise ValueError(f"t: cannot move the replay clock back ({t} < {self._now})")
        self._now = int(t)
        event, self._moved = self._event(), asyncio.Event()
        event.set()


class Pacer:
    """Optional pacing: with ``speed`` > 0, simulated time runs at most ``speed`` x wall time."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin: tuple[float, int] | None = None

    async def wait_for(self, sim_t: int) -> None:
        if self.speed <= 0:
            return
        if self._origin is None:
            self._origin = (time.monotonic(), sim_t)
            return
        wall0, sim0 = self._origin
        due = wall0 + (sim_t - sim0) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
