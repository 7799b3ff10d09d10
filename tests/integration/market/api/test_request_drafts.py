"""Request drafts: a DSO drafts, reads and decides its own; every refusal names its field
and stores nothing. Real anvil (roles come from the chain) and a real store."""

from __future__ import annotations

from typing import Any

import pytest
from market_helpers import CP, escrow, make_request, make_worker, open_session, setup_market

from market.api.problems import problem_type
from market.client import ApiError, MarketClient
from market.participant.participant import once

pytestmark = pytest.mark.integration
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _draft(session_id: str, gate: int, **over: Any) -> dict[str, Any]:
    req = make_request(session_id, expires_at=gate).model_dump(mode="json")
    req.update(over)
    return {
        "request": req,
        "reason": f"{CP} UP: transformer loading over 80 %",
        "forecast": [{"isp_index": 0, "max_loading_ppm": 873_000, "need_w": 4_200}],
    }


def _refused(runtime, call, status: int, slug: str, field: str) -> None:
    before = runtime.core.count_rows()
    with pytest.raises(ApiError) as err:
        call()
    assert err.value.status == status, err.value.problem
    assert err.value.type == problem_type(slug), err.value.problem
    assert err.value.field == field, err.value.problem
    assert runtime.core.count_rows() == before  # nothing stored


@pytest.fixture
def market(runtime, clients):
    op = clients("operator")
    setup_market(op)
    now = int(runtime.core.clock.now())
    session = open_session(op, now)
    make_worker(runtime).run_once()
    assert op.session(session.session_id)["state"] == "OPEN"
    return op, session


def _signed_in(client: MarketClient) -> MarketClient:
    client.sign_in()
    return client


def test_dso_drafts_reads_and_approves_then_posts_the_request(runtime, chain, clients, market):
    _, session = market
    dso = _signed_in(clients("dso"))
    body = _draft(session.session_id, session.gate_closure)
    answer = dso.post_request_draft(body)
    draft_id = body["request"]["request_id"]
    assert answer["status"] == "pending" and answer["draft_id"] == draft_id
    (listed,) = dso.request_drafts(session.session_id)
    assert listed["status"] == "pending" and listed["reason"] == body["reason"]
    assert listed["forecast"] == body["forecast"]
    assert listed["request"]["budget_units"] == body["request"]["budget_units"]

    decided = dso.decide_request_draft(draft_id, "approve", "grid needs it")
    assert decided["status"] == "approved" and decided["note"] == "grid needs it"
    assert dso.request_drafts()[0]["status"] == "approved"
    # the DSO's own wallet escrows and posts the drafted request, unchanged
    req = make_request(session.session_id, expires_at=session.gate_closure).model_validate(
        body["request"]
    )
    escrow(chain, "dso", req)
    dso.post_request(req)
    assert dso.request_drafts(session.session_id)[0]["status"] == "requested"


def test_reject_is_final(runtime, clients, market):
    _, session = market
    dso = _signed_in(clients("dso"))
    body = _draft(session.session_id, session.gate_closure)
    dso.post_request_draft(body)
    draft_id = body["request"]["request_id"]
    assert dso.decide_request_draft(draft_id, "reject")["status"] == "rejected"
    for decision in ("approve", "reject"):
        _refused(
            runtime,
            lambda d=decision: dso.decide_request_draft(draft_id, d),
            409,
            "conflict",
            "body.draft_id",
        )


def test_draft_refusals(runtime, chain, clients, market):
    op, session = market
    dso, fsp = clients("dso"), clients("fsp_a")
    gate = session.gate_closure
    _refused(
        runtime,
        lambda: fsp.post_request_draft(_draft(session.session_id, gate)),
        403,
        "role-required",
        "signer",
    )
    _refused(
        runtime,
        lambda: dso.post_request_draft(_draft(session.session_id, gate, congestion_point="NOPE")),
        422,
        "unknown-congestion-point",
        "body.request.congestion_point",
    )
    pending = open_session(op, int(runtime.core.clock.now()))  # not opened on-chain yet
    _refused(
        runtime,
        lambda: dso.post_request_draft(_draft(pending.session_id, gate)),
        409,
        "wrong-session-state",
        "body.request.session_id",
    )
    _refused(
        runtime,
        lambda: dso.post_request_draft(_draft(session.session_id, gate, expires_at=100)),
        401,
        "message-expired",
        "body.request.expires_at",
    )
    body = _draft(session.session_id, gate)
    dso.post_request_draft(body)
    _refused(  # the same draft id in another message
        runtime,
        lambda: dso.post_request_draft(body, message_id=once("again", "x")),
        409,
        "conflict",
        "body.request.request_id",
    )


def test_reads_are_for_the_drafting_dso_only(runtime, clients, market):
    _, session = market
    dso = clients("dso")
    body = _draft(session.session_id, session.gate_closure)
    dso.post_request_draft(body)
    draft_id = body["request"]["request_id"]
    for call, field in (
        (lambda: dso.request_drafts(), "authorization"),
        (lambda: _signed_in(clients("dso2"))._get(f"/request-drafts/{draft_id}"), "draft_id"),
    ):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.field == field, err.value.problem
        assert err.value.status in (401, 403)
    assert _signed_in(clients("dso2")).request_drafts() == []  # only one's own
    assert _signed_in(clients("fsp_a")).request_drafts() == []


def test_decision_refusals(runtime, chain, clients, market):
    op, session = market
    dso, dso2 = clients("dso"), clients("dso2")
    body = _draft(session.session_id, session.gate_closure)
    dso.post_request_draft(body)
    draft_id = body["request"]["request_id"]
    ok = {"draft_id": draft_id, "decision": "approve", "note": ""}
    refusals = [
        (lambda: dso2.decide_request_draft(draft_id, "approve"), 403, "forbidden", "body.draft_id"),
        (
            lambda: clients("fsp_a").decide_request_draft(draft_id, "approve"),
            403,
            "role-required",
            "signer",
        ),
        (lambda: dso.decide_request_draft(UNKNOWN, "approve"), 404, "not-found", "body.draft_id"),
        (
            lambda: dso.send(
                f"/request-drafts/{draft_id}/approve",
                "request_draft_decision",
                {**ok, "decision": "reject"},
            ),
            422,
            "invalid-message",
            "body.decision",
        ),
        (
            lambda: dso.send(f"/request-drafts/{UNKNOWN}/approve", "request_draft_decision", ok),
            422,
            "invalid-message",
            "body.draft_id",
        ),
    ]
    for call, status, slug, field in refusals:
        _refused(runtime, call, status, slug, field)
    # past the gate (the session still OPEN in the store): expired
    chain.warp_to(session.gate_closure + 1)
    _refused(
        runtime,
        lambda: dso.decide_request_draft(draft_id, "approve"),
        409,
        "gate-closed",
        "body.draft_id",
    )
    # closed by the worker: the session is no longer OPEN
    make_worker(runtime).run_once()
    assert op.session(session.session_id)["state"] != "OPEN"
    _refused(
        runtime,
        lambda: dso.decide_request_draft(draft_id, "approve"),
        409,
        "wrong-session-state",
        "body.draft_id",
    )


def test_a_draft_that_could_not_be_posted_is_refused_before_any_escrow(
    runtime, chain, clients, market
):
    """Approving leads the page to escrow first: a draft clashing with a posted request (one
    per point and direction) is refused when drafted and when approved, never after escrow."""
    _, session = market
    dso = _signed_in(clients("dso"))
    pending = _draft(session.session_id, session.gate_closure)
    dso.post_request_draft(pending)  # drafted while the point is free
    posted = make_request(session.session_id, expires_at=session.gate_closure)
    escrow(chain, "dso", posted)
    dso.post_request(posted)  # now the point and direction are taken
    _refused(
        runtime,
        lambda: dso.post_request_draft(_draft(session.session_id, session.gate_closure)),
        409,
        "conflict",
        "body.request.direction",
    )
    _refused(
        runtime,
        lambda: dso.decide_request_draft(pending["request"]["request_id"], "approve"),
        409,
        "conflict",
        "body.draft_id",
    )
    rejected = dso.decide_request_draft(pending["request"]["request_id"], "reject")
    assert rejected["status"] == "rejected"  # rejecting it is still allowed
