"""The commitment relay (market/relay.py) on a real anvil and store: FSPs post EIP-712-signed
commitments, the worker relays them in one ``commitOffersBySig`` before gate closure, at most
once (also after a batch mined but not recorded), and an FSP the relay failed commits itself."""

from __future__ import annotations

import pytest
from market_helpers import (
    escrow,
    make_offer,
    make_request,
    make_worker,
    open_session,
    setup_market,
)
from sqlmodel import Session, select

from adapters.chain.types import SessionState
from clearing.encoding import uuid_to_bytes32
from market.api.schemas import ParticipantCreate
from market.client import ApiError
from market.lifecycle.worker import step_history
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant
from market.relay import _signed
from market.store import models as m

pytestmark = pytest.mark.integration

FSPS = ("fsp_a", "fsp_b")


@pytest.fixture
def settings(settings):
    """The service advertises its relay (GET /deployment's commitment_relay)."""
    return settings.model_copy(update={"relay_commitments": True})


def _market(chain, runtime, clients):
    """A session with one request and one offer per FSP posted (not yet committed)."""
    op, dso = clients("operator"), clients("dso")
    setup_market(op)
    for who in FSPS:
        clients(who).register_participant(ParticipantCreate(name=who, ean_codes=["EAN-CP-0001"]))
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    parts, offers = {}, {}
    for who in FSPS:
        c = clients(who)
        account = ChainAccount(chain.contracts.market, chain.contracts.token, chain.addresses[who])
        parts[who] = Participant(c, account)
        offers[who] = [
            make_offer(s.session_id, c.address, expires_at=s.gate_closure, request_id=None)
        ]
        c.post_offer(offers[who][0])
    return s, worker, parts, offers


def _commit_events(runtime, session_id: str) -> list:
    return runtime.ledger.session_events("OffersCommitted", session_id)


def _rows(runtime, session_id: str) -> dict[str, m.RelayCommitment]:
    with Session(runtime.engine) as db:
        q = select(m.RelayCommitment).where(m.RelayCommitment.session_id == session_id)
        return {r.fsp: r for r in db.exec(q)}


def test_relayed_in_one_batch_once_then_cleared(chain, runtime, clients, api) -> None:
    s, worker, parts, offers = _market(chain, runtime, clients)
    assert api.get("/deployment").json()["commitment_relay"] is True
    for who in FSPS:
        parts[who].commit_offers(offers[who])  # the advertised relay: a signed POST, no tx
    assert _commit_events(runtime, s.session_id) == []
    listed = api.get(f"/sessions/{s.session_id}/commitments").json()
    assert sorted(r["fsp"] for r in listed) == sorted(chain.addresses[w].lower() for w in FSPS)
    assert {r["status"] for r in listed} == {"PENDING"}

    worker.run_once()
    events = _commit_events(runtime, s.session_id)
    assert len(events) == 2 and len({e.tx_hash for e in events}) == 1  # one batch
    rows = _rows(runtime, s.session_id)
    assert {r.status for r in rows.values()} == {"RELAYED"}
    assert {r.relay_tx for r in rows.values()} == {events[0].tx_hash}
    sid = uuid_to_bytes32(s.session_id)
    for who in FSPS:
        held = chain.contracts.market.offer_commitment(sid, chain.addresses[who])
        want = parts[who].chain.commitment(offers[who])
        assert (held.root, held.count) == (want.root, want.count)
        assert parts[who].ensure_committed(s.session_id) == "on-chain"

    # at most once: another tick sends nothing; the identical post again is answered 200
    worker.run_once()
    assert len(_commit_events(runtime, s.session_id)) == 2
    body = parts["fsp_a"].chain.sign_commitment(
        s.session_id, parts["fsp_a"].chain.commitment(offers["fsp_a"])
    )
    again = api.post(f"/sessions/{s.session_id}/commitments", json=body)
    assert again.status_code == 200 and again.json()["status"] == "RELAYED"
    other = parts["fsp_a"].chain.sign_commitment(
        s.session_id, parts["fsp_a"].chain.commitment([*offers["fsp_a"], *offers["fsp_b"]])
    )
    conflict = api.post(f"/sessions/{s.session_id}/commitments", json=other)
    assert conflict.status_code == 409 and conflict.json()["field"] == "offers_root"

    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED
    with Session(runtime.engine) as db:
        receipts = list(
            db.exec(select(m.OfferReceipt).where(m.OfferReceipt.session_id == s.session_id))
        )
    assert len(receipts) == 2  # both FSPs' offers matched their relayed roots


def test_a_batch_mined_but_not_recorded_is_not_sent_again(chain, runtime, clients) -> None:
    s, worker, parts, offers = _market(chain, runtime, clients)
    for who in FSPS:
        parts[who].commit_offers(offers[who])
    rows = list(_rows(runtime, s.session_id).values())
    runtime.ledger.relay_commitments(s.session_id, [_signed(r) for r in rows])  # then "crash"
    assert {r.status for r in _rows(runtime, s.session_id).values()} == {"PENDING"}
    worker.run_once()  # would revert (FlexMarketAlreadyCommitted) if it re-sent
    assert {r.status for r in _rows(runtime, s.session_id).values()} == {"ONCHAIN"}
    assert len(_commit_events(runtime, s.session_id)) == 2
    steps = {(r["step"], r["status"]) for r in step_history(runtime.engine, s.session_id)}
    assert ("relay", "DONE") in steps


def test_fsp_commits_itself_when_the_relay_withholds(chain, runtime, clients) -> None:
    s, worker, parts, offers = _market(chain, runtime, clients)
    fsp_a = parts["fsp_a"]
    fsp_a.commit_offers(offers["fsp_a"])
    # the operator never relays (no worker tick); shortly before gate closure A checks
    chain.warp_to(s.gate_closure - 30)
    assert fsp_a.ensure_committed(s.session_id) == "self-committed"
    assert fsp_a.ensure_committed(s.session_id) == "on-chain"
    (event,) = _commit_events(runtime, s.session_id)
    assert event.args["fsp"].lower() == chain.addresses["fsp_a"].lower()
    worker.run_once()  # the stored one is found on-chain, not relayed again
    assert _rows(runtime, s.session_id)[fsp_a.address].status == "ONCHAIN"
    assert len(_commit_events(runtime, s.session_id)) == 1
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED


def test_refusals_name_the_field(chain, runtime, clients, api) -> None:
    s, _worker, parts, offers = _market(chain, runtime, clients)
    url = f"/sessions/{s.session_id}/commitments"
    fsp_a = parts["fsp_a"]
    good = fsp_a.chain.sign_commitment(s.session_id, fsp_a.chain.commitment(offers["fsp_a"]))

    def problem(body, path: str = url) -> tuple[int, str | None]:
        r = api.post(path, json=body)
        return r.status_code, r.json().get("field") if r.status_code >= 400 else None

    assert problem({**good, "offers_root": "0x12"})[0] == 422
    assert problem({**good, "offer_count": -1})[0] == 422
    # a valid signature over other values recovers to some other address: no FSP role
    assert problem({**good, "offer_count": 7}) == (403, "signature")
    # signed for another session: the digest binds the session id
    other = fsp_a.chain.sign_commitment(
        "00000000-0000-4000-8000-000000000000", fsp_a.chain.commitment(offers["fsp_a"])
    )
    assert problem(other) == (403, "signature")
    # a DSO's signature: the signer holds no FSP_ROLE
    dso = ChainAccount(chain.contracts.market, chain.contracts.token, chain.addresses["dso"])
    assert problem(dso.sign_commitment(s.session_id, fsp_a.chain.commitment(offers["fsp_a"]))) == (
        403,
        "signature",
    )
    assert problem({**good, "signature": "0x" + "00" * 65}) == (401, "signature")
    assert problem(good, "/sessions/00000000-0000-4000-8000-000000000000/commitments") == (
        404,
        "session_id",
    )
    chain.warp_to(s.gate_closure + 1)
    assert problem(good) == (409, "session_id")
    assert _rows(runtime, s.session_id) == {}  # nothing stored by any refusal
    with pytest.raises(ApiError):
        parts["fsp_b"].client.post_commitment(s.session_id, good)
