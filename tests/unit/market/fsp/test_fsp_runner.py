"""The gateway's wait between passes (``market.fsp.runner.until_work``): a market event starts
the next pass at once, a stored reading ``relay_delay_s`` later, nothing after ``poll_s``."""

from __future__ import annotations

import asyncio
import time

from market.fsp.runner import until_work

POLL_S = 30.0  # far beyond what any case below may wait: reaching it is the failure


def _waited(
    *, wake_after: float | None, reading_after: float | None, poll_s: float, delay_s: float
) -> float:
    async def run() -> float:
        wake, readings_in = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        if wake_after is not None:
            loop.call_later(wake_after, wake.set)
        if reading_after is not None:
            loop.call_later(reading_after, readings_in.set)
        t0 = time.monotonic()
        await until_work(wake, readings_in, poll_s, delay_s)
        return time.monotonic() - t0

    return asyncio.run(run())


def test_a_market_event_starts_the_next_pass_at_once() -> None:
    assert _waited(wake_after=0.0, reading_after=None, poll_s=POLL_S, delay_s=1.0) < 5.0


def test_a_stored_reading_starts_it_after_the_relay_delay_not_the_poll() -> None:
    waited = _waited(wake_after=None, reading_after=0.0, poll_s=POLL_S, delay_s=0.3)
    assert 0.3 <= waited < 5.0


def test_a_market_event_cuts_the_relay_delay_short() -> None:
    waited = _waited(wake_after=0.1, reading_after=0.0, poll_s=POLL_S, delay_s=POLL_S)
    assert waited < 5.0


def test_with_nothing_to_do_it_waits_the_poll() -> None:
    assert _waited(wake_after=None, reading_after=None, poll_s=0.3, delay_s=0.0) >= 0.3
