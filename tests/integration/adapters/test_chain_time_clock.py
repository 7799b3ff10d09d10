"""ChainTimeClock follows a real anvil's latest block time: warps move it, and a sleep ends
when the chain (not the wall clock) has passed the target."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from adapters.chain.anvil import AnvilNode
from adapters.chain.nodes import local_node
from adapters.clock import ChainTimeClock

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
