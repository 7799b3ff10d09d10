"""Reorgs on a real anvil: the store rolls back to the fork point and re-applies the new chain's
events; a finalize the reorg dropped is redone once; nothing is paid twice; confirmations hold
the indexer and a sender back until blocks sit on top."""

from __future__ import annotations

import secrets
import threading

import pytest
from eth_utils import keccak
from market_helpers import (
    attest_in_full,
    commit,
    escrow,
    make_offer,
    make_request,
    make_worker,
    open_session,
    setup_market,
)
from sqlmodel import Session, select

from adapters.chain.types import SessionState
from market import reorg
from market.indexer import Indexer
from market.store import models as m

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _indexer(chain, runtime, ledger, **kw) -> Indexer:
    return Indexer(runtime.engine, ledger, chain.contracts.deployment.deploy_block, **kw)


def _roles(runtime, address: str) -> str | None:
    with Session(runtime.engine) as db:
        row = db.get(m.Participant, address.lower())
        return None if row is None else row.roles


def _register(chain, role: str) -> str:
    market, address = chain.contracts.market, "0x" + secrets.token_hex(20)
    market.register_participant(
        address, keccak(text=address), [market.role(role)], sender=chain.addresses["operator"]
    )
    return address


def test_anvil_reorg_rolls_the_store_back_to_the_fork_and_reapplies(chain, runtime, ledger) -> None:
    indexer = _indexer(chain, runtime, ledger)
    indexer.sync()
    kept = _register(chain, "FSP")
    fork = chain.client.block_number()
    indexer.sync()
    dropped = _register(chain, "FSP")  # fork + 1
    chain.node.mine()  # fork + 2
    indexer.sync()
    assert _roles(runtime, kept) == "FSP" and _roles(runtime, dropped) == "FSP"
    head = chain.client.block_number()

    chain.node.rpc("anvil_reorg", 2, [])  # blocks fork+1, fork+2 replaced by empty ones
    chain.client.reset_nonces()
    assert chain.client.block_number() == head, "same height, other blocks"
    replacement = _register(chain, "DSO")  # fork + 3 on the new chain
    assert indexer.sync() == 1
    assert indexer.rollbacks == [
        reorg.Rollback(from_block=head, fork_block=fork, undone=1, sessions=())
    ]
    assert _roles(runtime, dropped) is None, "the row the orphaned event created is gone"
    assert _roles(runtime, kept) == "FSP", "below the fork nothing changes"
    assert _roles(runtime, replacement) == "DSO"
    assert indexer.sync() == 0 and len(indexer.rollbacks) == 1, "a second sync finds no reorg"


def test_revert_below_the_cursor_then_a_longer_chain_is_a_reorg(chain, runtime, ledger) -> None:
    """evm_snapshot/evm_revert: the chain first gets shorter than the cursor, then longer."""
    indexer = _indexer(chain, runtime, ledger)
    indexer.sync()
    fork = chain.client.block_number()
    snap = chain.node.snapshot()
    dropped = _register(chain, "FSP")
    indexer.sync()
    chain.node.revert(snap)
    chain.client.reset_nonces()
    assert indexer.sync() == 0, "the cursor's block is gone: rolled back, nothing new yet"
    assert indexer.rollbacks[-1].fork_block == fork and _roles(runtime, dropped) is None
    replacement = _register(chain, "FSP")
    chain.node.mine()
    assert indexer.sync() == 1 and _roles(runtime, replacement) == "FSP"


def _session_to_verified(chain, runtime, clients):  # type: ignore[no-untyped-def]
    op, dso, fsp_a = (clients(n) for n in ("operator", "dso", "fsp_a"))
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    offers = [make_offer(s.session_id, fsp_a.address, expires_at=s.gate_closure)]
    for o in offers:
        fsp_a.post_offer(o)
    commit(chain, "fsp_a", s.session_id, offers)
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    chain.warp_to(s.delivery_end + 61)
    attest_in_full(chain, runtime.ledger, s.session_id, b"\x02" * 32)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    return s, worker


def _store_state(runtime, session_id: str) -> str:
    with Session(runtime.engine) as db:
        row = db.get(m.MarketSession, session_id)
        assert row is not None
        return row.state


def test_a_finalize_dropped_by_a_reorg_is_redone_once_and_paid_once(
    chain, runtime, clients, ledger
) -> None:
    s, worker = _session_to_verified(chain, runtime, clients)
    indexer = _indexer(chain, runtime, ledger)
    indexer.sync()
    fsp = chain.addresses["fsp_a"]
    credits_before = chain.contracts.market.credits(fsp)
    snap = chain.node.snapshot()
    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()  # finalize, mined
    indexer.sync()
    paid = chain.contracts.market.credits(fsp) - credits_before
    assert paid > 0 and _store_state(runtime, s.session_id) == "FINAL"

    chain.node.revert(snap)  # the finalize block is orphaned ...
    chain.client.reset_nonces()
    for _ in range(3):  # ... by a longer chain without it
        chain.node.mine()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    indexer.sync()
    assert indexer.rollbacks and s.session_id in indexer.rollbacks[-1].sessions
    assert _store_state(runtime, s.session_id) == "VERIFIED", "back to what the chain says"

    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()  # the worker redoes the step the reorg dropped
    worker.run_once()  # and a second tick does nothing more
    indexer.sync()
    assert _store_state(runtime, s.session_id) == "FINAL"
    finalized = ledger.session_events("SessionFinalized", s.session_id)
    assert len(finalized) == 1, "finalized once on the canonical chain"
    assert chain.contracts.market.credits(fsp) - credits_before == paid, "paid once"
    with Session(runtime.engine) as db:
        statements = db.exec(select(m.Settlement).where(m.Settlement.session_id == s.session_id))
        assert len(list(statements)) == 1, "one statement per reservation, not two"


def test_the_indexer_applies_only_confirmed_blocks(chain, runtime, ledger) -> None:
    indexer = _indexer(chain, runtime, ledger, confirmations=2)
    indexer.sync()
    address = _register(chain, "FSP")
    assert indexer.sync() == 0 and _roles(runtime, address) is None, "0 blocks on top"
    chain.node.mine()
    assert indexer.sync() == 0, "1 block on top"
    chain.node.mine()
    assert indexer.sync() == 1 and _roles(runtime, address) == "FSP"


def test_a_sender_with_confirmations_waits_for_blocks_and_sees_a_drop(chain) -> None:
    from adapters.chain.client import ChainClient
    from adapters.chain.revert import TransactionDropped

    client = ChainClient(
        chain.client.rpc_url,
        private_keys=[chain.keys["outsider"]],
        artifacts=chain.client.artifacts,
        confirmations=2,
        receipt_timeout_s=30,
    )
    outsider = chain.addresses["outsider"]
    token = chain.contracts.token.address
    data = client.bind("SettlementToken", token).encode("approve", outsider, 1)
    result: list[object] = []
    sender = threading.Thread(
        target=lambda: result.append(_send_or_error(client, token, data, outsider))
    )
    sender.start()
    sender.join(timeout=1.0)
    assert sender.is_alive(), "mined at once, but not yet 2 blocks deep"
    _mine_until(chain, sender, blocks=2)
    (sent,) = result
    assert not isinstance(sent, Exception), sent
    assert chain.client.block_number() >= sent.block_number + 2  # type: ignore[attr-defined]

    # Mined, then reorganised out before its confirmations: TransactionDropped, not success.
    client.reset_nonces()
    client.confirmations = 0
    mined = client.send(token, data, sender=outsider)
    receipt = client.rpc("eth_getTransactionReceipt", [mined.tx_hash])
    chain.node.rpc("anvil_reorg", 1, [])  # its block is replaced by an empty one
    chain.node.mine()
    chain.node.mine()
    client.confirmations = 2
    with pytest.raises(TransactionDropped, match=mined.tx_hash):
        client.wait_for_confirmations(mined.tx_hash, receipt)


def _send_or_error(client, to, data, sender):  # type: ignore[no-untyped-def]
    try:
        return client.send(to, data, sender=sender)
    except Exception as exc:  # the test inspects which
        return exc


def _mine_until(chain, thread: threading.Thread, *, blocks: int) -> None:
    for _ in range(blocks * 10):
        if not thread.is_alive():
            break
        chain.node.mine()
        thread.join(timeout=0.2)
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_views_of_a_client_with_confirmations_read_only_confirmed_blocks(chain) -> None:
    from adapters.chain.client import ChainClient

    lagging = ChainClient(chain.client.rpc_url, artifacts=chain.client.artifacts, confirmations=2)
    # Every block this test reads is one it mined: after the fixture's evm_revert, anvil may no
    # longer hold the state of the blocks at or below the snapshot (BlockOutOfRangeError).
    for _ in range(3):
        chain.node.mine()
    token = lagging.bind("SettlementToken", chain.contracts.token.address)
    dso, outsider = chain.addresses["dso"], chain.addresses["outsider"]
    before = token.call("allowance", dso, outsider)
    chain.contracts.token.approve(outsider, before + 7, sender=dso)
    assert chain.contracts.token.contract.call("allowance", dso, outsider) == before + 7
    assert token.call("allowance", dso, outsider) == before, "not yet 2 blocks deep"
    chain.node.mine()
    assert token.call("allowance", dso, outsider) == before
    chain.node.mine()
    assert token.call("allowance", dso, outsider) == before + 7
