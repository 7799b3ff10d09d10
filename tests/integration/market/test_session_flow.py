"""A complete session over real HTTP (uvicorn on a socket) and a real anvil, on each database."""

from __future__ import annotations

import pytest
from market_helpers import (
    AWARD_POSITION,
    attest_in_full,
    client_for,
    commit,
    escrow,
    make_offer,
    make_request,
    make_worker,
    open_session,
    setup_market,
)

from adapters.chain.types import SessionState
from clearing.bundle import ResultBundle
from clearing.encoding import keccak256
from clearing.merkle import verify_proof
from market.api.schemas import ParticipantCreate
from market.bundles import OFFER_LEAF_ENCODING, offer_leaf
from market.client import ApiError
from market.lifecycle.worker import step_history

pytestmark = pytest.mark.integration


def test_complete_session_over_http(chain, runtime, server) -> None:
    op = client_for(server, chain, "operator", runtime)
    dso = client_for(server, chain, "dso", runtime)
    fsp_a = client_for(server, chain, "fsp_a", runtime)
    fsp_b = client_for(server, chain, "fsp_b", runtime)
    setup_market(op)
    for c, name in ((dso, "DSO Terni"), (fsp_a, "EMSP A"), (fsp_b, "Fleet B")):
        c.register_participant(ParticipantCreate(name=name, ean_codes=["EAN-CP-0001"]))
    assert {p["name"] for p in op.participants()} >= {"Operator", "DSO Terni", "EMSP A"}
    now = int(runtime.core.clock.now())
    s = open_session(op, now)
    worker = make_worker(runtime)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.OPEN
    assert op.session(s.session_id)["state"] == "OPEN"

    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    offers_a = [
        make_offer(
            s.session_id, fsp_a.address, expires_at=s.gate_closure, request_id=req.request_id
        ),
        make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure, price=300_000_000),
    ]
    offers_b = [make_offer(s.session_id, fsp_b.address, expires_at=s.gate_closure, power_w=8_000)]
    for o in offers_a:
        fsp_a.post_offer(o)
    fsp_b.post_offer(offers_b[0])
    commit(chain, "fsp_a", s.session_id, offers_a)
    commit(chain, "fsp_b", s.session_id, offers_b)

    fsp_a.sign_in()
    assert {o["body"]["offer_id"] for o in fsp_a.offers(s.session_id)} == {
        o.offer_id for o in offers_a
    }
    with pytest.raises(ApiError) as err:
        fsp_a.offers(s.session_id, fsp=fsp_b.address)
    assert err.value.status == 403

    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED
    info = runtime.ledger.clearing(s.session_id)  # hash, root and reservations: from the event
    assert op.session(s.session_id)["state"] == "DELIVERING"

    # Receipts prove each offer against the FSP's on-chain commitment.
    receipts = fsp_a.receipts(s.session_id)
    committed = runtime.ledger.offer_root(s.session_id, fsp_a.address)
    by_id = {o.offer_id: o for o in offers_a}
    assert len(receipts) == 2
    for r in receipts:
        leaf = offer_leaf(r["offer_id"], by_id[r["offer_id"]].to_canonical())
        proof = [bytes.fromhex(p[2:]) for p in r["proof"]]
        assert r["included"] and verify_proof(committed, OFFER_LEAF_ENCODING, leaf, proof)

    # Published bundles, fetched over HTTP, match the on-chain hash and root byte for byte.
    input_bytes = op.bundle(s.session_id, "input")
    result_bytes = op.bundle(s.session_id, "result")
    assert keccak256(input_bytes) == bytes(info.input_hash)
    result = ResultBundle.model_validate_json(result_bytes)
    assert bytes.fromhex(result.orders_root[2:]) == bytes(info.result_root)
    assert result.orders and result.input_hash == "0x" + keccak256(input_bytes).hex()
    orders = op.orders(s.session_id)
    assert {o["order_id"] for o in orders} == {o.order_id for o in result.orders}

    # Award positions minted to the FSPs (one aggregated ERC-1155 id per holder).
    reservations = info.reservations
    assert reservations
    awarded: dict[str, int] = {}
    for res in reservations:
        awarded[res.fsp] = awarded.get(res.fsp, 0) + res.amount
    for fsp, amount in awarded.items():
        held = chain.contracts.positions.contract.call("balanceOf", fsp, AWARD_POSITION)
        assert held == amount > 0

    # After delivery + grace the verification step says plainly it is not configured.
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    history = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}
    assert history["verify"]["status"] == "BLOCKED"
    assert "not configured" in history["verify"]["detail"]

    # A meter oracle attests on-chain; the worker follows and finalizes after the window.
    attest_in_full(chain, runtime.ledger, s.session_id, b"\x01" * 32)
    worker.run_once()
    assert op.session(s.session_id)["state"] == "VERIFIED"
    # Statements are private: each FSP sees its own, nobody else's.
    fsp_a.sign_in()  # the chain clock moved past the first token's expiry
    statements = fsp_a.settlements(s.session_id)
    assert statements and all(st["fsp"] == fsp_a.address for st in statements)
    assert sum(st["payout_units"] for st in statements) == sum(
        r.amount for r in reservations if r.fsp.lower() == fsp_a.address
    )
    with pytest.raises(ApiError) as err:
        fsp_a.settlements(s.session_id, fsp=fsp_b.address)
    assert err.value.status == 403
    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()
    assert op.session(s.session_id)["state"] == "FINAL"
    assert runtime.ledger.session(s.session_id).state == SessionState.FINAL
