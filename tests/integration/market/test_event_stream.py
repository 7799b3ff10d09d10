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


def test_parse_sse_refuses_malformed_events() -> None:
    from market.event_stream import StreamError

    ok = list(parse_sse(["id: 3", "event: order", 'data: {"a": 1}', "", ": keepalive", ""]))
    assert ok == [MarketEventMessage(3, "order", {"a": 1})]
    for lines in (["event: x", "data: {}", ""], ["id: 1", "event: x", "data: [1]", ""]):
        with pytest.raises(StreamError):
            list(parse_sse(lines))
