"""ChainTimeClock follows a real anvil's latest block time: warps move it, and a sleep ends
when the chain (not the wall clock) has passed the target."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from adapters.chain.anvil import AnvilNode
from adapters.chain.nodes import local_node
from adapters.clock import ChainTimeClock, sleep_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node():
    with local_node("anvil", accounts=1) as n:
        yield n


def test_now_is_the_latest_block_time_and_follows_a_warp(node: AnvilNode) -> None:
    clock = ChainTimeClock(node.rpc_url)
    assert clock.now() == node.block_timestamp()
    target = node.block_timestamp() + 86_400
    node.warp_to(target)
    assert clock.now() == target
    clock.close()


def test_sleep_waits_for_the_chain_not_the_wall_clock(node: AnvilNode) -> None:
    clock = ChainTimeClock(node.rpc_url, poll_s=0.01)
    start = int(clock.now())
    warping = threading.Event()

    def warp_later() -> None:
        time.sleep(0.5)
        warping.set()  # set before the warp: the sleep may end before this thread runs again
        node.warp_to(start + 900)

    threading.Thread(target=warp_later, daemon=True).start()
    t0 = time.monotonic()
    asyncio.run(clock.sleep(900))
    assert warping.is_set()  # it did not return before the warp began
    assert time.monotonic() - t0 >= 0.5
    assert clock.now() >= start + 900
    clock.close()


def test_sleep_until_is_absolute_so_a_warp_between_two_reads_cannot_overshoot(
    node: AnvilNode,
) -> None:
    """A station read the chain's time, then another process warped to its next interval
    before it began to sleep: ``sleep_until`` ends at once, where ``sleep(t - the time read)``
    would wait for the chain to move as far again (the live run's stuck station)."""
    clock = ChainTimeClock(node.rpc_url, poll_s=0.01)
    read = int(clock.now())
    node.warp_to(read + 300)  # lands between the station's read and its sleep

    async def both() -> tuple[bool, bool]:
        ended = True
        try:
            await asyncio.wait_for(sleep_until(clock, read + 300), timeout=5)
        except TimeoutError:
            ended = False
        relative_ended = True
        try:
            await asyncio.wait_for(clock.sleep(read + 300 - read), timeout=1)
        except TimeoutError:
            relative_ended = False
        return ended, relative_ended

    ended, relative_ended = asyncio.run(both())
    assert ended
    assert not relative_ended  # the relative form, measured from the later read, overshoots
    clock.close()
