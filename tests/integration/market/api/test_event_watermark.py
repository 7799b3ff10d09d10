"""The per-process event watermark behind ``GET /events``: one poller, shared by every open
stream of an event loop, that wakes waiting streams when a new event is committed."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlmodel import Session

from market.api.routers import events
from market.runtime import Runtime
from market.store import models as m

pytestmark = pytest.mark.integration


def _insert(runtime: Runtime) -> int:
    with Session(runtime.engine) as db:
        row = m.MarketEvent(
            session_id="s1", kind="session_state", data_json=json.dumps({"state": "OPEN"})
        )
        row.created_at = int(time.time())
        db.add(row)
        db.commit()
        assert row.id is not None
        return row.id


def test_streams_share_one_watermark_that_wakes_them(runtime: Runtime) -> None:
    async def scenario() -> None:
        first = events.watermark_for(runtime.engine)
        assert events.watermark_for(runtime.engine) is first  # one per process and loop
        first.open()
        first.open()
        assert first.streams == 2
        waiter = asyncio.create_task(first.wait_past(first.newest_id, timeout_s=10.0))
        await asyncio.sleep(events.POLL_S * 2)
        assert not waiter.done()  # nothing new: the streams stay asleep
        new_id = await asyncio.to_thread(_insert, runtime)
        await asyncio.wait_for(waiter, timeout=5.0)
        assert first.newest_id == new_id
        first.close()
        first.close()
        await asyncio.sleep(events.POLL_S * 2)
        assert first._task is not None and first._task.done()  # no stream, no poller

    asyncio.run(scenario())


def test_wait_past_returns_after_its_timeout_when_nothing_moves(runtime: Runtime) -> None:
    async def scenario() -> float:
        mark = events.watermark_for(runtime.engine)
        mark.open()
        t0 = time.monotonic()
        await mark.wait_past(mark.newest_id, timeout_s=0.3)
        mark.close()
        return time.monotonic() - t0

    assert asyncio.run(scenario()) >= 0.29
