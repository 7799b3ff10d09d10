"""The transaction manager on a real anvil with mining switched off: EIP-1559 fees within caps,
a stuck transaction replaced (same nonce, higher fees), a dropped one re-broadcast."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.chain.anvil import AnvilNode
from adapters.chain.client import ChainClient, TxResult
from adapters.chain.fees import FeeCapExceeded, FeeCaps

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode(accounts=3) as started:  # its own: these tests switch automine off
        yield started


def _client(node: AnvilNode, **kw: Any) -> ChainClient:
    return ChainClient(node.rpc_url, private_keys=node.private_keys[:2], **kw)


def _nonce(client: ChainClient, address: str, tag: str = "latest") -> int:
    return int(client.rpc("eth_getTransactionCount", [address, tag]), 16)


def _in_background(send: Callable[[], TxResult]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(send())
        except Exception as exc:  # the test asserts on it
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _wait(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_transactions_are_type_2_with_fees_within_the_caps(node: AnvilNode) -> None:
    client = _client(node, fee_caps=FeeCaps(max_fee_per_gas_wei=50 * 10**9))
    a, b = client.accounts
    sent = client.send(b, b"", sender=a, gas=21_000)
    tx = client.rpc("eth_getTransactionByHash", [sent.tx_hash])
    assert int(tx["type"], 16) == 2
    assert int(tx["maxFeePerGas"], 16) <= 50 * 10**9
    assert int(tx["maxPriorityFeePerGas"], 16) <= int(tx["maxFeePerGas"], 16)


def test_a_base_fee_above_the_cap_sends_nothing(node: AnvilNode) -> None:
    client = _client(node, fee_caps=FeeCaps(max_fee_per_gas_wei=1))
    a, b = client.accounts
    before = _nonce(client, a, "pending")
    with pytest.raises(FeeCapExceeded, match="above the cap of 1 wei"):
        client.send(b, b"", sender=a, gas=21_000)
    assert _nonce(client, a, "pending") == before


def test_a_stuck_transaction_is_replaced_with_higher_fees_and_mined_once(
    node: AnvilNode,
) -> None:
    client = _client(node, stuck_after_s=0.3)
    a, b = client.accounts
    start = _nonce(client, a)
    first_fees = client.fees()
    node.rpc("evm_setAutomine", False)
    try:
        thread, result = _in_background(lambda: client.send(b, b"", sender=a, gas=21_000))
        _wait(lambda: client.replacements >= 1)  # nothing mines it: replaced
        node.mine()
        thread.join(timeout=15)
    finally:
        node.rpc("evm_setAutomine", True)
    (mined,) = result
    assert isinstance(mined, TxResult), mined
    tx = client.rpc("eth_getTransactionByHash", [mined.tx_hash])
    assert int(tx["nonce"], 16) == start, "the replacement reuses the nonce"
    assert int(tx["maxFeePerGas"], 16) > first_fees.max_fee_per_gas_wei
    assert int(tx["maxPriorityFeePerGas"], 16) > first_fees.max_priority_fee_per_gas_wei
    assert _nonce(client, a) == start + 1, "exactly one transaction with that nonce was mined"
    block = client.rpc("eth_getBlockByNumber", [hex(mined.block_number), False])
    assert block["transactions"] == [mined.tx_hash]


def test_a_transaction_dropped_from_the_pool_is_rebroadcast(node: AnvilNode) -> None:
    client = _client(node, stuck_after_s=0.3)
    a, b = client.accounts
    start = _nonce(client, a)
    node.rpc("evm_setAutomine", False)
    try:
        thread, result = _in_background(lambda: client.send(b, b"", sender=a, gas=21_000))
        _wait(lambda: _nonce(client, a, "pending") == start + 1)
        pending = node.rpc("txpool_content")["pending"]
        (original,) = next(v for k, v in pending.items() if k.lower() == a.lower()).values()
        sent_before = client.replacements
        node.rpc("anvil_dropTransaction", original["hash"])
        assert client.rpc("eth_getTransactionByHash", [original["hash"]]) is None
        _wait(lambda: client.replacements > sent_before)  # unknown to the node: sent again
        _wait(lambda: _nonce(client, a, "pending") == start + 1)
        node.mine()
        thread.join(timeout=15)
    finally:
        node.rpc("evm_setAutomine", True)
    (mined,) = result
    assert isinstance(mined, TxResult), mined
    assert _nonce(client, a) == start + 1
