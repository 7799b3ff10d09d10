"""Under terms that require readings digests the meter oracle attests only after the CPOs'
signed digests are published and their root is committed on-chain, and never against a reading
set they contradict.  Real anvil, real store, the API in-process."""

from __future__ import annotations

import json

import pytest
import service_settlement_helpers as helpers
from service_settlement_helpers import digests_to_delivery
from service_settlement_helpers import store_readings as store

from adapters.chain.types import SessionState
from clearing.encoding import hex32
from clearing.readings_digest import cpo_digests, parse_bundle
from clearing.settlement.meter import SignedMeterReading
from clearing.terms import SessionTerms
from clearing.trust import secp256k1_key
from market.lifecycle.readings import DigestSource
from market.lifecycle.verification import make_verification_hook
from market.lifecycle.worker import step_history

pytestmark = pytest.mark.integration


def _cpo_source(
    key: str, received: list[SignedMeterReading], domain: tuple[int, str]
) -> DigestSource:
    """The CPO's side: it signs digests over the readings its CSMS received."""

    def source(session_id: str, window: tuple[int, int], start: int, isp_s: int) -> list:
        return cpo_digests(
            session_id=session_id,
            readings=received,
            stations={r.station for r in received},
            window=window,
            delivery_start=start,
            isp_s=isp_s,
            key=secp256k1_key(key),
            domain=domain,
        )

    return source


def _domain(runtime) -> tuple[int, str]:
    return (runtime.ledger.chain_id, runtime.ledger.market_address)


@pytest.fixture
def delivered(chain, runtime, clients, monkeypatch):
    """A cleared session whose terms require readings digests, with every reading stored."""
    s, worker, received = digests_to_delivery(chain, runtime, clients, monkeypatch)
    return s, worker, received


def _hook(chain, runtime, source: DigestSource | None):
    return make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=helpers.RULES,
        digests=source,
    )


def _verify_detail(runtime, session_id: str) -> tuple[str, str]:
    rows = [h for h in step_history(runtime.engine, session_id) if h["step"] == "verify"]
    return rows[-1]["status"], rows[-1]["detail"]


def test_no_digests_no_attestation_then_digests_committed_before_it(
    chain, runtime, api, delivered
) -> None:
    s, worker, received = delivered
    store(runtime.engine, received)
    terms = SessionTerms.model_validate_json(
        api.get(f"/sessions/{s.session_id}/bundles/terms").content
    )
    assert terms.readings_digests_required
    worker.verification_hook = _hook(chain, runtime, None)
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    status, detail = _verify_detail(runtime, s.session_id)
    assert status == "BLOCKED" and "readings digests" in detail
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED
    assert api.get(f"/sessions/{s.session_id}/bundles/delivery").status_code == 404

    worker.verification_hook = _hook(
        chain, runtime, _cpo_source(chain.keys["cpo"], received, _domain(runtime))
    )
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    bundle = parse_bundle(json.loads(api.get(f"/sessions/{s.session_id}/bundles/readings").content))
    assert {d.station for d in bundle.digests} == {"ST-A", "ST-B"}
    (committed,) = runtime.ledger.session_events("ReadingsDigestsCommitted", s.session_id)
    (attested,) = runtime.ledger.session_events("DeliveryAttested", s.session_id)
    assert hex32(bytes(committed.args["root"])) == bundle.root
    assert (committed.block_number, committed.log_index) < (
        attested.block_number,
        attested.log_index,
    )


def test_oracle_refuses_a_reading_set_the_digests_contradict(chain, runtime, delivered) -> None:
    s, worker, received = delivered
    lost = received[7]  # the store lost a reading the CPO received
    store(runtime.engine, [r for r in received if r is not lost])
    worker.verification_hook = _hook(
        chain, runtime, _cpo_source(chain.keys["cpo"], received, _domain(runtime))
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    status, detail = _verify_detail(runtime, s.session_id)
    assert status == "BLOCKED" and "withheld" in detail and lost.station in detail
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED
    assert not runtime.ledger.session_events("ReadingsDigestsCommitted", s.session_id)


def test_digests_signed_by_another_key_are_refused(chain, runtime, delivered) -> None:
    s, worker, received = delivered
    store(runtime.engine, received)
    worker.verification_hook = _hook(
        chain, runtime, _cpo_source(chain.keys["fsp_a"], received, _domain(runtime))
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    status, detail = _verify_detail(runtime, s.session_id)
    assert status == "BLOCKED" and "digest_invalid_signature" in detail
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED


def test_digests_signed_for_another_deployment_are_refused(chain, runtime, delivered) -> None:
    """The CPO's key and the right readings, but signed for another chain: no attestation."""
    s, worker, received = delivered
    store(runtime.engine, received)
    chain_id, market = _domain(runtime)
    other = _cpo_source(chain.keys["cpo"], received, (chain_id + 1, market))
    worker.verification_hook = _hook(chain, runtime, other)
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    status, detail = _verify_detail(runtime, s.session_id)
    assert status == "BLOCKED" and "digest_wrong_domain" in detail
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED
    assert not runtime.ledger.session_events("ReadingsDigestsCommitted", s.session_id)


def test_a_session_without_orders_attests_with_the_empty_digests_bundle(
    chain, runtime, clients
) -> None:
    """Digests are required by default; a session nobody offered in has no meter behind an
    order, so the oracle commits the empty bundle (zero root) instead of blocking forever."""
    from market_helpers import escrow, make_request, make_worker, open_session, setup_market

    from clearing.readings_digest import ZERO_ROOT

    op, dso = clients("operator"), clients("dso")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)  # the default terms: digests required
    worker.run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    worker.verification_hook = _hook(chain, runtime, None)  # no CPO sent anything
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    assert not runtime.ledger.session_events("ReadingsDigestsCommitted", s.session_id)
    chain.warp_to(s.delivery_end + 61)
    for _ in range(3):
        worker.run_once()
    assert runtime.ledger.session(s.session_id).state >= SessionState.VERIFIED
    (committed,) = runtime.ledger.session_events("ReadingsDigestsCommitted", s.session_id)
    assert hex32(bytes(committed.args["root"])) == ZERO_ROOT
    terms = SessionTerms.model_validate_json(runtime.bundles.get(s.session_id, "terms"))
    assert terms.readings_digests_required
