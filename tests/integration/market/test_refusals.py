"""Every refusal case: right status and problem type, and neither store nor chain changed."""

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

from clearing.encoding import uuid_to_bytes32
from market.api.problems import problem_type
from market.auth import eip712
from market.client import ApiError

pytestmark = pytest.mark.integration


@pytest.fixture
def market(chain, runtime, clients):
    """An open session with one escrowed request; returns (session, request, clients)."""
    op, dso, fsp_a = clients("operator"), clients("dso"), clients("fsp_a")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    return s, req, op, dso, fsp_a


def _snapshot(runtime, chain, session_id: str):
    """Store row counts, chain height and the session's on-chain record."""
    return (
        runtime.core.count_rows(),
        chain.client.block_number(),
        chain.contracts.market.contract.call("session", uuid_to_bytes32(session_id)),
    )


def _refused(call, status: int, slug: str) -> ApiError:
    with pytest.raises(ApiError) as err:
        call()
    assert err.value.status == status, err.value.problem
    assert err.value.type == problem_type(slug), err.value.problem
    assert err.value.problem["detail"] and err.value.field
    return err.value


def test_wrong_signer(market, runtime, chain, api) -> None:
    s, _, _, _, fsp_a = market
    before = _snapshot(runtime, chain, s.session_id)
    env = fsp_a.sign("offer", make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure))
    env["signer"] = chain.addresses["fsp_b"]  # claims to be someone else
    err = _refused(lambda: fsp_a.send_envelope("/offers", env), 401, "bad-signature")
    assert err.field == "signature"
    assert _snapshot(runtime, chain, s.session_id) == before


def test_expired_message(market, runtime, chain) -> None:
    s, _, _, _, fsp_a = market
    before = _snapshot(runtime, chain, s.session_id)
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)
    expired = int(runtime.core.clock.now()) - 1
    err = _refused(lambda: fsp_a.post_offer(offer, expiry=expired), 401, "message-expired")
    assert err.field == "expiry"
    assert _snapshot(runtime, chain, s.session_id) == before


def test_replayed_message_id_with_different_body(market, runtime, chain) -> None:
    s, _, _, _, fsp_a = market
    mid = new_id()
    first = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)
    stored = fsp_a.post_offer(first, message_id=mid)
    assert fsp_a.post_offer(first, message_id=mid) == stored  # same body: first result
    before = _snapshot(runtime, chain, s.session_id)
    other = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure, power_w=1)
    err = _refused(lambda: fsp_a.post_offer(other, message_id=mid), 409, "duplicate-message")
    assert err.field == "message_id"
    assert _snapshot(runtime, chain, s.session_id) == before


def test_fsp_posting_a_request(market, runtime, chain) -> None:
    s, _, _, _, fsp_a = market
    before = _snapshot(runtime, chain, s.session_id)
    req = make_request(s.session_id, expires_at=s.gate_closure)
    err = _refused(lambda: fsp_a.post_request(req), 403, "role-required")
    assert err.field == "signer"
    assert _snapshot(runtime, chain, s.session_id) == before


def test_offer_after_gate_closure(market, runtime, chain) -> None:
    s, _, _, _, fsp_a = market
    chain.warp_to(s.gate_closure + 1)
    before = _snapshot(runtime, chain, s.session_id)
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)
    err = _refused(lambda: fsp_a.post_offer(offer), 409, "gate-closed")
    assert err.field == "body.session_id"
    assert _snapshot(runtime, chain, s.session_id) == before


def test_offer_for_unknown_congestion_point(market, runtime, chain) -> None:
    s, _, _, _, fsp_a = market
    before = _snapshot(runtime, chain, s.session_id)
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure, cp="EAN-NOWHERE")
    err = _refused(lambda: fsp_a.post_offer(offer), 422, "unknown-congestion-point")
    assert err.field == "body.congestion_point"
    assert _snapshot(runtime, chain, s.session_id) == before


def test_offer_from_revoked_key(market, runtime, chain) -> None:
    s, _, _, _, fsp_a = market
    fsp_a.post_offer(make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure))
    chain.contracts.market.revoke_participant(
        chain.addresses["fsp_a"], sender=chain.addresses["operator"]
    )
    before = _snapshot(runtime, chain, s.session_id)
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)
    err = _refused(lambda: fsp_a.post_offer(offer), 403, "role-required")
    assert "no role" in err.problem["detail"]
    assert _snapshot(runtime, chain, s.session_id) == before


def test_reading_another_fsps_offers_before_gate_closure(market, runtime, chain, clients) -> None:
    s, _, _, _, fsp_a = market
    fsp_b = clients("fsp_b")
    offers_b = [make_offer(s.session_id, fsp_b.address, expires_at=s.gate_closure)]
    fsp_b.post_offer(offers_b[0])
    commit(chain, "fsp_b", s.session_id, offers_b)
    fsp_a.sign_in()
    before = _snapshot(runtime, chain, s.session_id)
    err = _refused(lambda: fsp_a.offers(s.session_id, fsp=fsp_b.address), 403, "forbidden")
    assert err.field == "fsp"
    _refused(lambda: fsp_a.offer(offers_b[0].offer_id), 403, "forbidden")
    assert fsp_a.offers(s.session_id) == []  # own view: nothing of B's leaks
    anonymous = clients("outsider")
    _refused(lambda: anonymous.offers(s.session_id), 401, "unauthenticated")
    assert _snapshot(runtime, chain, s.session_id) == before
    # After gate closure the offers become public.
    chain.warp_to(s.gate_closure + 1)
    assert len(anonymous.offers(s.session_id)) == 1


def test_schema_violation_is_problem_json(market, api) -> None:
    _s, *_ = market
    r = api.post("/offers", json={"message_id": "x" * 10, "body": {"offer_id": 5}})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == problem_type("validation-error")
    assert problem["field"] and problem["errors"]


def test_signature_domain_binds_chain_and_market(market, runtime, chain, clients) -> None:
    s, _, _, _, fsp_a = market
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)
    foreign = eip712.Domain(chain_id=1, verifying_contract=chain.contracts.market.address)
    env = eip712.sign_message(
        foreign,
        chain.keys["fsp_a"],
        kind="offer",
        body=offer.model_dump(mode="json"),
        expiry=int(runtime.core.clock.now()) + 60,
    )
    _refused(lambda: fsp_a.send_envelope("/offers", env), 401, "bad-signature")


def test_unknown_resource_is_404(market, clients) -> None:
    op = clients("operator")
    _refused(lambda: op.session(new_id()), 404, "not-found")


def test_signed_summary_that_misstates_the_offer_is_refused(market, runtime, chain) -> None:
    """A page that shows the wallet a cheaper offer than its body: the signature is valid over
    what the wallet showed, and the service refuses it naming ``summary``; nothing stored."""
    s, _, _, _, fsp_a = market
    before = _snapshot(runtime, chain, s.session_id)
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)
    env = fsp_a.sign("offer", offer)
    lie = env["summary"].replace(" EUR/MWh", "0 EUR/MWh")  # ten times the price, in words
    assert lie != env["summary"]
    digest = eip712.digest(
        fsp_a.domain(),
        kind="offer",
        message_id=env["message_id"],
        signer=env["signer"],
        expiry=env["expiry"],
        summary=lie,
        body_hash32=eip712.body_hash(env["body"]),
    )
    env.update(summary=lie, signature=eip712.sign_digest(chain.keys["fsp_a"], digest))
    err = _refused(lambda: fsp_a.send_envelope("/offers", env), 422, "invalid-message")
    assert err.field == "summary"
    assert _snapshot(runtime, chain, s.session_id) == before
    del env["summary"]
    err = _refused(lambda: fsp_a.send_envelope("/offers", env), 422, "validation-error")
    assert err.field == "summary"


def test_signed_summary_that_misstates_the_offers_energy_is_refused(market, runtime, chain) -> None:
    """The wallet shows the offer's energy in Wh (power x the session's ISP length): a summary
    with other Wh, or one without the Wh at all, is refused naming ``summary``; the honest
    one, which the client computes from the session, is stored."""
    s, _, _, _, fsp_a = market
    before = _snapshot(runtime, chain, s.session_id)
    offer = make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)
    env = fsp_a.sign("offer", offer)
    isps = offer.options[0].isps
    wh = sum(i.power_w for i in isps) * s.isp_s // 3600
    assert f": {wh} Wh, up to " in env["summary"]
    assert f"in {len(isps)} ISPs of {s.isp_s} s at " in env["summary"]
    no_wh = eip712.sign_message(
        fsp_a.domain(),
        chain.keys["fsp_a"],
        kind="offer",
        body=env["body"],
        expiry=env["expiry"],
        message_id=env["message_id"],
    )  # as if the signer had not read the session: no energy shown
    assert " Wh" not in no_wh["summary"]
    for lie in (env["summary"].replace(f"{wh} Wh", f"{wh * 10} Wh"), no_wh["summary"]):
        assert lie != env["summary"]
        digest = eip712.digest(
            fsp_a.domain(),
            kind="offer",
            message_id=env["message_id"],
            signer=env["signer"],
            expiry=env["expiry"],
            summary=lie,
            body_hash32=eip712.body_hash(env["body"]),
        )
        forged = {
            **env,
            "summary": lie,
            "signature": eip712.sign_digest(chain.keys["fsp_a"], digest),
        }
        err = _refused(lambda f=forged: fsp_a.send_envelope("/offers", f), 422, "invalid-message")
        assert err.field == "summary"
        assert _snapshot(runtime, chain, s.session_id) == before
    fsp_a.send_envelope("/offers", env)
    assert _snapshot(runtime, chain, s.session_id) != before
