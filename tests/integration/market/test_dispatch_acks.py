"""FSPs acknowledge dispatch of their own orders; the worker's dispatch step reports per FSP."""

from __future__ import annotations

import pytest
from market_helpers import (
    commit,
    escrow,
    make_offer,
    make_request,
    make_worker,
    new_id,
    open_session,
    setup_market,
)

from market.api.schemas import SessionCreate
from market.client import ApiError
from market.lifecycle.worker import step_history

pytestmark = pytest.mark.integration


def _cleared(chain, runtime, clients, *, delivery_in_s: int = 0) -> tuple[SessionCreate, dict]:
    """A session cleared with orders for fsp_a (two) and fsp_b (one); delivery later if asked."""
    op, dso = clients("operator"), clients("dso")
    fsp_a, fsp_b = clients("fsp_a"), clients("fsp_b")
    setup_market(op)
    now = int(runtime.core.clock.now())
    gate = now + 600
    s = SessionCreate(
        session_id=new_id(),
        gate_closure=gate,
        delivery_start=gate + delivery_in_s,
        delivery_end=gate + delivery_in_s + 3600,
        isp_s=900,
        challenge_window_s=300,
    )
    op.create_session(s)
    worker = make_worker(runtime)
    worker.run_once()
    req = make_request(s.session_id, expires_at=gate, budget_units=500_000_000)
    escrow(chain, "dso", req)
    dso.post_request(req)
    offers = {
        "fsp_a": [make_offer(s.session_id, fsp_a.address, expires_at=gate) for _ in range(2)],
        "fsp_b": [make_offer(s.session_id, fsp_b.address, expires_at=gate, power_w=4_000)],
    }
    for who, client in (("fsp_a", fsp_a), ("fsp_b", fsp_b)):
        for o in offers[who]:
            client.post_offer(o)
        commit(chain, who, s.session_id, offers[who])
    chain.warp_to(gate + 1)
    worker.run_once()
    orders = {
        who: [o["order_id"] for o in op.orders(s.session_id, fsp=c.address)]
        for who, c in (("fsp_a", fsp_a), ("fsp_b", fsp_b))
    }
    assert len(orders["fsp_a"]) == 2 and len(orders["fsp_b"]) == 1
    return s, {"worker": worker, **orders}


def test_dispatch_waits_for_acks_until_delivery_starts(chain, runtime, clients) -> None:
    s, got = _cleared(chain, runtime, clients, delivery_in_s=1800)
    fsp_a, fsp_b, op = clients("fsp_a"), clients("fsp_b"), clients("operator")
    worker = got["worker"]
    assert op.session(s.session_id)["state"] == "CLEARED"
    step = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}["dispatch"]
    assert step["status"] == "WAITING"
    assert f"{fsp_a.address.lower()} 0/2" in step["detail"]

    answer = fsp_a.ack_dispatch(s.session_id, got["fsp_a"][:1])
    assert answer["acknowledged"] == got["fsp_a"][:1]
    again = fsp_a.ack_dispatch(s.session_id, got["fsp_a"])  # the first one again: skipped
    assert again["acknowledged"] == got["fsp_a"][1:]
    report = {r["fsp"]: r for r in op.dispatch_acks(s.session_id)}
    assert sorted(report[fsp_a.address.lower()]["acknowledged"]) == sorted(got["fsp_a"])
    assert report[fsp_b.address.lower()]["unacknowledged"] == got["fsp_b"]

    worker.run_once()  # fsp_b has not acknowledged and delivery has not started: still waiting
    assert op.session(s.session_id)["state"] == "CLEARED"

    chain.warp_to(s.delivery_start)
    worker.run_once()
    assert op.session(s.session_id)["state"] == "DELIVERING"
    step = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}["dispatch"]
    assert step["status"] == "DONE"
    assert f"{fsp_a.address.lower()} 2/2" in step["detail"]
    assert f"{fsp_b.address.lower()} 0/1" in step["detail"]
    assert "1 unacknowledged at delivery start" in step["detail"]
    assert "no dispatcher" not in step["detail"]

    fsp_b.ack_dispatch(s.session_id, got["fsp_b"])  # late, while DELIVERING: still recorded
    report = {r["fsp"]: r for r in op.dispatch_acks(s.session_id)}
    assert report[fsp_b.address.lower()]["acknowledged"] == got["fsp_b"]


def test_dispatch_done_once_every_order_is_acknowledged(chain, runtime, clients) -> None:
    s, got = _cleared(chain, runtime, clients, delivery_in_s=1800)
    clients("fsp_a").ack_dispatch(s.session_id, got["fsp_a"])
    clients("fsp_b").ack_dispatch(s.session_id, got["fsp_b"])
    got["worker"].run_once()  # before delivery starts
    assert clients("operator").session(s.session_id)["state"] == "DELIVERING"
    step = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}["dispatch"]
    assert step["status"] == "DONE" and "unacknowledged" not in step["detail"]


def test_acks_are_refused_for_foreign_unknown_or_too_early_orders(chain, runtime, clients) -> None:
    s, got = _cleared(chain, runtime, clients, delivery_in_s=1800)
    fsp_a, fsp_b, dso = clients("fsp_a"), clients("fsp_b"), clients("dso")

    with pytest.raises(ApiError) as err:  # another FSP's order
        fsp_b.ack_dispatch(s.session_id, [*got["fsp_b"], got["fsp_a"][0]])
    assert (err.value.status, err.value.field) == (403, "body.order_ids[1]")
    with pytest.raises(ApiError) as err:  # an order that does not exist
        fsp_a.ack_dispatch(s.session_id, [new_id()])
    assert (err.value.status, err.value.field) == (404, "body.order_ids[0]")
    with pytest.raises(ApiError) as err:  # not an FSP
        dso.ack_dispatch(s.session_id, got["fsp_a"])
    assert err.value.status == 403 and err.value.slug == "role-required"
    with pytest.raises(ApiError) as err:  # path and body disagree
        fsp_a.send(
            f"/sessions/{new_id()}/dispatch-acks",
            "dispatch_ack",
            {"session_id": s.session_id, "order_ids": got["fsp_a"]},
        )
    assert (err.value.status, err.value.field) == (422, "body.session_id")
    # nothing of the refused messages was stored
    report = {r["fsp"]: r for r in clients("operator").dispatch_acks(s.session_id)}
    assert all(not r["acknowledged"] for r in report.values())

    # wrong session state: a session still OPEN has no orders to take over
    op = clients("operator")
    other = open_session(op, int(runtime.core.clock.now()))
    got["worker"].run_once()
    assert op.session(other.session_id)["state"] == "OPEN"
    with pytest.raises(ApiError) as err:
        fsp_a.ack_dispatch(other.session_id, got["fsp_a"])
    assert (err.value.status, err.value.slug) == (409, "wrong-session-state")
    with pytest.raises(ApiError) as err:
        fsp_a.ack_dispatch(new_id(), got["fsp_a"])
    assert (err.value.status, err.value.field) == (404, "body.session_id")
