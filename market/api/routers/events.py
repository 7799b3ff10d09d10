"""``GET /events``: session state changes, orders and dispatch acknowledgements as server-sent
events, read from the store's event log so every API process streams the same sequence.

Why polling a table: the worker (or another API process) writes the events in the transactions
that make the changes; a process cannot be told about them, but it can read what is committed.
Each event's ``id`` is the log row id, so a client that reconnects with ``Last-Event-ID`` (or
``?after=``) gets exactly the events it missed.

Ids are assigned at insert, so on PostgreSQL a later id can commit before an earlier one. The
stream therefore never passes a gap in the ids until it has stayed open ``GAP_WAIT_S`` seconds
(a rolled-back insert leaves a gap for ever; a slow commit fills it in well under that). A gap
before an event older than that is passed at once (a reconnecting client replays quickly).

Why one watermark per process: every open stream would otherwise read the table every
``POLL_S``. One poller per process (and event loop) reads only the newest id and wakes the
streams when it moves, so N idle streams cost one indexed ``max(id)`` per tick, not N reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from starlette.concurrency import run_in_threadpool

from market.api.deps import CoreDep
from market.errors import InvalidMessage
from market.store import models as m

router = APIRouter(tags=["events"])

POLL_S = 0.25
KEEPALIVE_S = 15.0
GAP_WAIT_S = 5.0
BATCH = 500
MAX_EVENT_ID = 2**62


def _read(engine: Engine, after: int) -> list[m.MarketEvent]:
    """The next events after ``after``, unfiltered: the gap check needs every id."""
    with Session(engine) as db:
        q = select(m.MarketEvent).where(col(m.MarketEvent.id) > after)
        return list(db.exec(q.order_by(col(m.MarketEvent.id)).limit(BATCH)))


def _newest_id(engine: Engine) -> int:
    with Session(engine) as db:
        return int(db.exec(select(func.max(m.MarketEvent.id))).one() or 0)


class EventWatermark:
    """The newest event id, polled by one task while any stream is open (see module doc)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.newest_id = 0
        self.streams = 0
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        self.streams += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def close(self) -> None:
        self.streams -= 1

    async def _poll(self) -> None:
        while self.streams > 0:
            newest = await run_in_threadpool(_newest_id, self.engine)
            if newest != self.newest_id:
                self.newest_id = newest
                moved, self._moved = self._moved, asyncio.Event()
                moved.set()
            await asyncio.sleep(POLL_S)

    async def wait_past(self, event_id: int, timeout_s: float) -> None:
        """Return once an id beyond ``event_id`` is known, or after ``timeout_s``."""
        if self.newest_id > event_id:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._moved.wait(), timeout_s)


_watermarks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, EventWatermark]] = (
    weakref.WeakKeyDictionary()
)


def watermark_for(engine: Engine) -> EventWatermark:
    """This event loop's watermark of ``engine`` (asyncio objects belong to one loop)."""
    per_loop = _watermarks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(id(engine), EventWatermark(engine))


def _wanted(row: m.MarketEvent, session_id: str | None, fsp: str | None) -> bool:
    """Filters: one session (market-wide events too); events for everyone plus one FSP's."""
    if session_id and row.session_id not in (session_id, m.MARKET_WIDE):
        return False
    return not (fsp and row.fsp is not None and row.fsp != fsp)


def _newest(engine: Engine) -> int:
    """The id of the newest event (0 for none): where a ``live`` stream starts."""
    with Session(engine) as db:
        newest = db.exec(select(func.max(m.MarketEvent.id))).one()
        return int(newest or 0)


def _frame(row: m.MarketEvent) -> str:
    """One SSE frame; ``data`` is a single JSON line."""
    data = json.dumps(json.loads(row.data_json), separators=(",", ":"), sort_keys=True)
    return f"id: {row.id}\nevent: {row.kind}\ndata: {data}\n\n"


def _start_after(last_event_id: str | None, after: int | None) -> int:
    if after is not None:
        return after
    if last_event_id is None or last_event_id == "":
        return 0
    if not last_event_id.isdigit() or int(last_event_id) > MAX_EVENT_ID:
        raise InvalidMessage("must be an event id this stream sent", field="last-event-id")
    return int(last_event_id)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "id/event/data frames"}
                }
            },
            "description": (
                "Server-sent events: `session_state` {session_id, state, from, and on CLEARED "
                "result_root and orders}, `order` {session_id, order} (sent before the "
                "session's CLEARED), `dispatch_ack` {session_id, fsp, order_ids}, "
                "`station_status` {session_id (empty), fsp, stations} (market-wide: a session "
                "filter lets it through). "
                "Each has an increasing `id`; a comment line is sent every 15 s of silence."
            ),
        },
        422: {"description": "Malformed Last-Event-ID or query (problem+json)"},
    },
)
async def events(
    request: Request,
    core: CoreDep,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="Start after this event id.")
    ] = None,
    session_id: Annotated[str | None, Query(max_length=36)] = None,
    fsp: Annotated[
        str | None,
        Query(
            pattern=r"^0x[0-9a-fA-F]{40}$",
            description="Only this FSP's orders (state changes are sent to everyone).",
        ),
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    live: Annotated[
        bool, Query(description="Without after / Last-Event-ID: skip the past, start now.")
    ] = False,
) -> StreamingResponse:
    """Follow the market: replayed from ``after`` / ``Last-Event-ID``, then live."""
    start = _start_after(last_event_id, after)
    if live and after is None and not last_event_id:
        start = await run_in_threadpool(_newest, core.engine)
    wanted_fsp = fsp.lower() if fsp else None
    engine = core.engine

    async def stream() -> AsyncIterator[str]:
        last = start
        gap_since: float | None = None
        quiet_since = time.monotonic()
        watermark = watermark_for(engine)
        watermark.open()
        must_read = True  # the replay from ``start`` is read before waiting for anything
        try:
            yield ": flexmarket events\n\n"
            while not await request.is_disconnected():
                rows: list[m.MarketEvent] = []
                if must_read or watermark.newest_id > last:
                    rows = await run_in_threadpool(_read, engine, last)
                sent = waiting = False
                for row in rows:
                    assert row.id is not None
                    fresh = time.time() - row.created_at < GAP_WAIT_S
                    if row.id != last + 1 and fresh:  # a recent gap: maybe a commit in flight
                        gap_since = gap_since or time.monotonic()
                        if time.monotonic() - gap_since < GAP_WAIT_S:
                            waiting = True
                            break
                    gap_since = None
                    last = row.id
                    if _wanted(row, session_id, wanted_fsp):
                        sent = True
                        yield _frame(row)
                if sent:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield ": keepalive\n\n"
                full_batch = len(rows) == BATCH and not waiting
                must_read = waiting or full_batch
                if waiting:  # a gap: read again after a tick, new id or not
                    await asyncio.sleep(POLL_S)
                elif not full_batch:  # a full batch: read on at once
                    await watermark.wait_past(last, timeout_s=1.0)
        finally:
            watermark.close()

    headers: dict[str, Any] = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
