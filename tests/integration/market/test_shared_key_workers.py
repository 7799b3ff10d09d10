"""Two lifecycle workers that sign with one operator key run a market day (several sessions,
every operator transaction: create, close, clear, finalize) concurrently, each with its own
chain client (as two processes), without a single nonce error: their nonces come from one
row of the shared database."""

from __future__ import annotations

import threading

import pytest
from market_helpers import (
    attest_in_full,
    commit,
    escrow,
    make_offer,
    make_request,
    open_session,
    setup_market,
)
from sqlmodel import Session

from adapters.chain.client import ChainClient
from adapters.chain.market_contract import FlexMarketContract
from clearing.encoding import uuid_to_bytes32
from market.ledger import Ledger
from market.lifecycle.worker import Worker
from market.nonces import DbNonces
from market.store import models as m
from market.store.db import make_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SESSIONS = 4


def _worker(chain, runtime, db_url: str, name: str) -> Worker:
    """A worker with its own client, engine and nonce allocator, as a separate process has."""
    client = ChainClient(
        chain.client.rpc_url,
        private_keys=[chain.keys["operator"]],
        artifacts=chain.client.artifacts,
        nonces=DbNonces(make_engine(db_url)),
    )
    market = FlexMarketContract(client, chain.contracts.market.address)
    ledger = Ledger(client, market, operator=chain.addresses["operator"])
    return Worker(
        engine=runtime.engine,
        ledger=ledger,
        bundles=runtime.bundles,
        clock=runtime.core.clock,
        meter_grace_s=60,
        worker_id=name,
    )


def _both(workers: list[Worker]) -> None:
    """One tick of every worker at the same time; re-raises what a tick raised."""
    errors: list[BaseException] = []

    def tick(w: Worker) -> None:
        try:
            w.run_once()
        except BaseException as exc:  # the test fails with it below
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert errors == []


def _count(chain, event: str, session_id: str) -> int:
    topic = "0x" + uuid_to_bytes32(session_id).hex()
    deploy_block = chain.contracts.deployment.deploy_block
    return len(chain.client.get_events(event, deploy_block, topics=[topic]))


def test_two_workers_sharing_one_key_run_a_day_without_a_nonce_error(
    chain, runtime, clients, db_url
) -> None:
    op, dso, fsp_a = clients("operator"), clients("dso"), clients("fsp_a")
    setup_market(op)
    now = int(runtime.core.clock.now())
    sessions = [open_session(op, now, gate_in_s=600 + 60 * i) for i in range(SESSIONS)]
    workers = [_worker(chain, runtime, db_url, f"shared-key-{i}") for i in range(2)]
    _both(workers)  # both open sessions on-chain
    for s in sessions:
        req = make_request(s.session_id, expires_at=s.gate_closure)
        escrow(chain, "dso", req)
        dso.post_request(req)
        offers = [make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)]
        fsp_a.post_offer(offers[0])
        commit(chain, "fsp_a", s.session_id, offers)
    chain.warp_to(max(s.gate_closure for s in sessions) + 1)
    _both(workers)  # close and clear every session
    chain.warp_to(max(s.delivery_end for s in sessions) + 61)
    for s in sessions:
        attest_in_full(chain, runtime.ledger, s.session_id, b"\x02" * 32)
    _both(workers)  # verified
    chain.warp_to(max(s.delivery_end for s in sessions) + 61 + 301)
    _both(workers)  # finalize every session

    with Session(runtime.engine) as db:
        states = {s.session_id: db.get(m.MarketSession, s.session_id).state for s in sessions}  # type: ignore[union-attr]
    assert set(states.values()) == {"FINAL"}, states
    for s in sessions:
        for event in ("SessionCreated", "SessionClosed", "ClearingPosted", "SessionFinalized"):
            assert _count(chain, event, s.session_id) == 1, (event, s.session_id)
    sent = [w.ledger.client for w in workers]
    assert [c.nonce_retries for c in sent] == [0, 0], "no nonce error, not even a retried one"
