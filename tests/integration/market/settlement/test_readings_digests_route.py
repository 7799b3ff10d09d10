"""``POST /sessions/{id}/readings-digests``: a station's CPO sends its signed readings digests
to the service, and the lifecycle worker's verify step (wired by ``attach_settlement``) attests
with them under terms that require digests.  Every refusal is a named 4xx.  Real anvil, real
store, the API in-process."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from service_settlement_helpers import digests_to_delivery
from service_settlement_helpers import store_readings as store

from adapters.chain.types import SessionState
from clearing.readings_digest import ReadingsDigest, cpo_digests
from clearing.settlement.delivery import required_reading_window
from clearing.terms import SessionTerms
from clearing.trust import secp256k1_key
from market.client import ApiError, MarketClient
from market.lifecycle.worker import step_history
from market.runtime import attach_settlement

pytestmark = pytest.mark.integration


@pytest.fixture
def delivered(chain, runtime, clients, api, monkeypatch):
    """A cleared session whose terms require digests, every reading stored, and the worker's
    verify step wired as the service wires it (the oracle key, digests from the store)."""
    s, worker, received = digests_to_delivery(chain, runtime, clients, monkeypatch)
    store(runtime.engine, received)
    settings = runtime.settings.model_copy(update={"oracle_key": chain.keys["oracle"]})
    attach_settlement(worker, settings, ledger=runtime.ledger)
    terms = SessionTerms.model_validate_json(
        api.get(f"/sessions/{s.session_id}/bundles/terms").content
    )
    return s, worker, received, terms


def _signed(runtime, terms, received, key: str, *, domain=None) -> list[ReadingsDigest]:
    return cpo_digests(
        session_id=terms.session_id,
        readings=received,
        stations={r.station for r in received},
        window=required_reading_window(terms.settlement, terms.delivery_start, terms.delivery_end),
        delivery_start=terms.delivery_start,
        isp_s=terms.isp_s,
        key=secp256k1_key(key),
        domain=domain or (runtime.ledger.chain_id, runtime.ledger.market_address),
    )


def _verify(runtime, session_id: str) -> tuple[str, str]:
    rows = [h for h in step_history(runtime.engine, session_id) if h["step"] == "verify"]
    return rows[-1]["status"], rows[-1]["detail"]


def _refused(call) -> ApiError:
    with pytest.raises(ApiError) as err:
        call()
    return err.value


def test_cpo_digests_posted_to_the_service_let_the_worker_attest(
    chain, runtime, clients, delivered
) -> None:
    s, worker, received, terms = delivered
    cpo = clients("cpo")
    digests = _signed(runtime, terms, received, chain.keys["cpo"])
    station_a = [d for d in digests if d.station == "ST-A"]
    first = cpo.post_readings_digests(s.session_id, station_a)
    assert (first["stored"], first["unchanged"], first["cpo"]) == (
        len(station_a),
        0,
        chain.addresses["cpo"].lower(),
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()  # ST-B's digests are missing: the oracle does not attest
    status, detail = _verify(runtime, s.session_id)
    assert status == "BLOCKED" and "digest_missing ST-B@" in detail, detail
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED

    second = cpo.post_readings_digests(s.session_id, digests)  # A's again (no-op) and B's
    assert (second["stored"], second["unchanged"]) == (
        len(digests) - len(station_a),
        len(station_a),
    )
    again = cpo.post_readings_digests(s.session_id, digests)  # all known: a replay
    assert (again["stored"], again["unchanged"]) == (0, len(digests))
    assert len(cpo._get(f"/sessions/{s.session_id}/readings-digests")) == len(digests)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    assert runtime.ledger.session_events("ReadingsDigestsCommitted", s.session_id)

    late = _refused(lambda: cpo.post_readings_digests(s.session_id, digests))
    assert (late.status, late.slug, late.field) == (409, "wrong-session-state", "session_id")


def test_each_refusal_is_a_named_problem(chain, runtime, clients, api, delivered) -> None:
    s, _worker, received, terms = delivered
    cpo = clients("cpo")
    digests = _signed(runtime, terms, received, chain.keys["cpo"])

    fsp = _refused(lambda: clients("fsp_a").post_readings_digests(s.session_id, digests))
    assert (fsp.status, fsp.slug) == (403, "role-required")

    # another CPO: holds the role, but did not register these stations' meter keys
    market, op = chain.contracts.market, chain.addresses["operator"]
    other_key = chain.node.private_keys[9]  # [8] is the test CPO
    other = chain.client.add_account(other_key)
    market.register_participant(other, keccak(text="cpo2"), [market.role("CPO")], sender=op)
    foreign = _refused(
        lambda: MarketClient(
            "http://market.test", other_key, http_client=api, now=runtime.core.clock.now
        ).post_readings_digests(s.session_id, _signed(runtime, terms, received, other_key))
    )
    assert (foreign.status, foreign.slug) == (403, "station-not-registered-by-signer")
    assert foreign.field == "body.digests[0].station"

    chain_id, market_addr = runtime.ledger.chain_id, runtime.ledger.market_address
    elsewhere = _signed(
        runtime, terms, received, chain.keys["cpo"], domain=(chain_id + 1, market_addr)
    )
    wrong_chain = _refused(lambda: cpo.post_readings_digests(s.session_id, elsewhere))
    assert (wrong_chain.status, wrong_chain.field) == (422, "body.digests[0].chain_id")
    other_market = _signed(
        runtime, terms, received, chain.keys["cpo"], domain=(chain_id, "0x" + "cd" * 20)
    )
    wrong_market = _refused(lambda: cpo.post_readings_digests(s.session_id, other_market))
    assert (wrong_market.status, wrong_market.field) == (422, "body.digests[0].market")

    forged = [digests[0].model_copy(update={"count": digests[0].count + 1}), *digests[1:]]
    bad_sig = _refused(lambda: cpo.post_readings_digests(s.session_id, forged))
    assert (bad_sig.status, bad_sig.field) == (422, "body.digests[0].signature")

    twice = _refused(lambda: cpo.post_readings_digests(s.session_id, [digests[0], digests[0]]))
    assert (twice.status, twice.field) == (422, "body.digests[1]")

    malformed = _refused(
        lambda: cpo.post_readings_digests(s.session_id, [{**digests[0].model_dump(), "count": -1}])
    )
    assert malformed.status == 422
    empty = _refused(lambda: cpo.post_readings_digests(s.session_id, []))
    assert empty.status == 422
    one = digests[0].model_dump()
    oversized = _refused(lambda: cpo.post_readings_digests(s.session_id, [one] * 10_001))
    assert (oversized.status, oversized.field) == (422, "digests")
    nested: dict = {"root": one["root"]}
    for _ in range(200):
        nested = {"station": nested}
    deep = _refused(lambda: cpo.post_readings_digests(s.session_id, [nested]))
    assert (deep.status, deep.field) == (400, "body")

    assert cpo.post_readings_digests(s.session_id, digests)["stored"] == len(digests)
    # a different digest for a stored station and ISP (the CPO re-signed a lower count)
    fewer = [r for r in received if r is not received[7]]
    changed = {d.key: d for d in _signed(runtime, terms, fewer, chain.keys["cpo"])}
    diff = [d for d in changed.values() if d not in digests]
    assert len(diff) == 1
    dup = _refused(lambda: cpo.post_readings_digests(s.session_id, diff))
    assert (dup.status, dup.slug, dup.field) == (409, "duplicate-digest", "body.digests[0]")
    stored = cpo._get(f"/sessions/{s.session_id}/readings-digests")
    assert [ReadingsDigest.model_validate(d) for d in stored] == sorted(
        digests, key=lambda d: (d.station, d.isp_start)
    )
