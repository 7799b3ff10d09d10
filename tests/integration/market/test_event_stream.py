"""``GET /events`` over a real uvicorn socket: state changes and orders as the worker makes them,
resumed by ``Last-Event-ID``, read by the client's SSE follower and by plain httpx."""

from __future__ import annotations

import queue
import threading
from typing import Any

import httpx
import pytest
from market_helpers import (
    client_for,
    commit,
    escrow,
    make_offer,
    make_request,
    make_worker,
    open_session,
    setup_market,
)

from clearing.encoding import hex32
from market.event_stream import MarketEventMessage, parse_sse

pytestmark = pytest.mark.integration


def _delivering(e: MarketEventMessage) -> bool:
    return e.event == "session_state" and e.data["state"] == "DELIVERING"


def _collect(client: Any, out: queue.Queue[Any], **kw: Any) -> threading.Thread:
    """Follow in a thread until a DELIVERING event; then close the stream (the connection)."""

    def run() -> None:
        stream = client.follow_events(**kw)
        try:
            for message in stream:
                out.put(message)
                if _delivering(message):
                    break
        except Exception as exc:
            out.put(exc)
        finally:
            stream.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _take(out: queue.Queue[Any], until: Any, timeout_s: float = 30.0) -> list[MarketEventMessage]:
    got: list[MarketEventMessage] = []
    while not got or not until(got[-1]):
        item = out.get(timeout=timeout_s)
        assert isinstance(item, MarketEventMessage), item
        got.append(item)
    return got


def test_stream_follows_a_session_and_resumes(chain, runtime, server) -> None:
    op, dso, fsp_a = (client_for(server, chain, w, runtime) for w in ("operator", "dso", "fsp_a"))
    follower = client_for(server, chain, "outsider", runtime)
    only_a = client_for(server, chain, "fsp_b", runtime)  # follows fsp_a's orders by filter
    events: queue.Queue[Any] = queue.Queue()
    filtered: queue.Queue[Any] = queue.Queue()
    try:
        _collect(follower, events)
        _collect(only_a, filtered, fsp=client_for(server, chain, "fsp_b", runtime).address)
        setup_market(op)
        s = open_session(op, int(runtime.core.clock.now()))
        worker = make_worker(runtime)
        worker.run_once()
        req = make_request(s.session_id, expires_at=s.gate_closure)
        escrow(chain, "dso", req)
        dso.post_request(req)
        offers = [make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)]
        fsp_a.post_offer(offers[0])
        commit(chain, "fsp_a", s.session_id, offers)
        chain.warp_to(s.gate_closure + 1)
        worker.run_once()

        got = _take(events, _delivering)
        mine = [e for e in got if e.data["session_id"] == s.session_id]
        assert [(e.event, e.data.get("state")) for e in mine] == [
            ("session_state", "PENDING"),
            ("session_state", "OPEN"),
            ("session_state", "CLOSED"),
            ("order", None),
            ("session_state", "CLEARED"),
            ("session_state", "DELIVERING"),
        ]
        ids = [e.id for e in got]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        order, cleared = mine[3], mine[4]
        assert order.data["order"]["fsp"] == fsp_a.address.lower()
        assert order.data["order"] == op.orders(s.session_id)[0]
        on_chain = runtime.ledger.clearing(s.session_id)
        assert on_chain is not None
        assert cleared.data["result_root"] == hex32(bytes(on_chain.result_root))
        assert cleared.data["orders"] == 1

        # fsp_b's filtered stream has every state change but not fsp_a's order.
        got_b = _take(filtered, _delivering)
        assert [e.event for e in got_b if e.data["session_id"] == s.session_id].count("order") == 0

        # Resume after CLEARED with Last-Event-ID: exactly the events after it.
        with httpx.Client(base_url=server, timeout=httpx.Timeout(10, read=10)) as http:
            headers = {"Last-Event-ID": str(cleared.id)}
            with http.stream("GET", "/events", headers=headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                first = next(parse_sse(response.iter_lines()))
            assert (first.id, first.data["state"]) == (mine[5].id, "DELIVERING")
            bad = http.get("/events", headers={"Last-Event-ID": "abc"})
            assert bad.status_code == 422 and bad.json()["field"] == "last-event-id"
            assert bad.headers["content-type"] == "application/problem+json"
        # ... and the client's follower, from an id.
        resumed: queue.Queue[Any] = queue.Queue()
        again = client_for(server, chain, "outsider", runtime)
        try:
            _collect(again, resumed, after=order.id, session_id=s.session_id)
            tail = _take(resumed, _delivering)
            assert [e.id for e in tail] == [cleared.id, mine[5].id]
        finally:
            again.close()
    finally:
        follower.close()
        only_a.close()
        for c in (op, dso, fsp_a):
            c.close()


def test_a_fresh_gap_in_ids_is_waited_for_then_passed(runtime, server, monkeypatch) -> None:
    """An id whose commit is still in flight is not skipped: the stream holds the events after
    a fresh gap for GAP_WAIT_S, then passes it (a rolled-back insert never fills it)."""
    import time

    from sqlmodel import Session

    from market.api.routers import events as events_router
    from market.store import models as m

    monkeypatch.setattr(events_router, "GAP_WAIT_S", 1.5)
    old = int(time.time()) - 60

    def add(event_id: int, created_at: int) -> None:
        values = m.event_values("session_state", "s", {"state": f"S{event_id}"})
        with Session(runtime.engine) as db:
            db.add(m.MarketEvent(id=event_id, **{**values, "created_at": created_at}))
            db.commit()

    add(1, old)
    add(3, old)  # an old gap (2 never came): passed at once
    add(5, int(time.time()) + 1)  # a fresh gap (4 may be committing): held back
    timeout = httpx.Timeout(10, read=10)
    with (
        httpx.Client(base_url=server, timeout=timeout) as http,
        http.stream("GET", "/events") as response,
    ):
        t0 = time.monotonic()
        got = []
        for message in parse_sse(response.iter_lines()):
            got.append((message.id, round(time.monotonic() - t0, 1)))
            if message.id == 5:
                break
    assert [i for i, _ in got] == [1, 3, 5]
    assert got[1][1] < 1.0 <= got[2][1]


def test_a_live_stream_skips_the_past_and_sends_what_comes_next(runtime, server) -> None:
    """``?live=true`` (what the pages use: they have just read the past) starts at the newest
    event; only events written after the stream opened are sent."""
    import time

    from sqlmodel import Session

    from market.store import models as m

    def add(event_id: int) -> None:
        values = m.event_values("session_state", "s", {"state": f"S{event_id}"})
        with Session(runtime.engine) as db:
            row = {**values, "created_at": int(time.time()) - 60}
            db.add(m.MarketEvent(id=event_id, **row))
            db.commit()

    add(1)
    add(2)
    timeout = httpx.Timeout(10, read=10)
    with (
        httpx.Client(base_url=server, timeout=timeout) as http,
        http.stream("GET", "/events", params={"live": "true"}) as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == ": flexmarket events"  # the stream is open: now write
        add(3)
        first = next(parse_sse(lines))
    assert (first.id, first.data["state"]) == (3, "S3")
