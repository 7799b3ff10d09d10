"""The local chain: start, answer, move time, stop; detached `chain up/down` state."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from adapters.chain import anvil as anvil_mod
from adapters.chain import nodes
from adapters.chain.anvil import AnvilError, AnvilNode, rpc_call
from adapters.chain.client import ChainClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_node_answers_and_its_process_group_is_gone_after_stop() -> None:
    node = AnvilNode(accounts=2)
    with node:
        pid = node.pid
        assert pid is not None and os.getpgid(pid) == pid
        assert node.get_chain_id() == 31337
        url = node.rpc_url
    assert node.process is None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with pytest.raises(AnvilError, match="eth_chainId"):
        rpc_call(url, "eth_chainId", timeout=1.0)


def test_accounts_are_deterministic_and_funded(anvil_node: AnvilNode) -> None:
    client = ChainClient(anvil_node.rpc_url, private_keys=anvil_node.private_keys[:2])
    assert client.accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert client.balance(client.accounts[1]) > 0


def test_time_moves_only_forward_and_exactly(anvil_node: AnvilNode) -> None:
    snap = anvil_node.snapshot()
    try:
        t0 = anvil_node.block_timestamp()
        anvil_node.set_next_block_timestamp(t0 + 100)
        assert anvil_node.mine() == t0 + 100
        assert anvil_node.mine(t0 + 5_000) == t0 + 5_000
        assert anvil_node.increase_time(60) == t0 + 5_060
        assert anvil_node.warp_to(t0) == t0 + 5_060, "warping into the past is a no-op"
        with pytest.raises(ValueError, match="backwards"):
            anvil_node.increase_time(-1)
    finally:
        anvil_node.revert(snap)


def test_a_binary_that_exits_is_reported_with_its_exit_code(tmp_path: Path) -> None:
    with pytest.raises(AnvilError, match="exited with code"):
        AnvilNode(binary=Path("/bin/false"), startup_timeout_s=5).start()


def test_a_binary_that_never_answers_times_out_clearly(tmp_path: Path) -> None:
    silent = tmp_path / "silent-anvil"
    silent.write_text("#!/bin/sh\nsleep 30\n")
    silent.chmod(0o755)
    node = AnvilNode(binary=silent, port=anvil_mod.free_port(), startup_timeout_s=0.5)
    with pytest.raises(AnvilError, match="no answer to eth_chainId"):
        node.start()
    assert node.process is None


def test_chain_up_status_down_with_a_state_file(tmp_path: Path) -> None:
    info = nodes.chain_up(root=tmp_path)
    try:
        assert (tmp_path / ".flexmarket" / "chain.json").is_file()
        status = nodes.chain_status(tmp_path)
        assert status["running"] and status["rpc_url"] == info["rpc_url"]
        assert rpc_call(info["rpc_url"], "eth_chainId") == hex(31337)
        with pytest.raises(AnvilError, match="already running"):
            nodes.chain_up(root=tmp_path)
    finally:
        assert nodes.chain_down(tmp_path) is True
    assert nodes.chain_status(tmp_path) == {"running": False}
    assert nodes.chain_down(tmp_path) is False


def test_nonces_resync_after_an_outside_transaction(deployment, parties) -> None:
    client = deployment.client
    token = deployment.token
    token.transfer(parties.outsider, 1, sender=parties.dso)  # caches the DSO nonce
    # a second client with the same key sends behind the first one's back
    other = ChainClient(client.rpc_url, private_keys=[_key_of(client, parties.dso)])
    other.bind("SettlementToken", token.address).transact(
        "transfer", parties.outsider, 1, sender=parties.dso
    )
    token.transfer(parties.outsider, 1, sender=parties.dso)  # stale nonce -> resync, retry
    assert token.balance_of(parties.outsider) == 3


def test_concurrent_senders_share_one_nonce_sequence(deployment, parties) -> None:
    token = deployment.token
    errors: list[BaseException] = []

    def send() -> None:
        try:
            for _ in range(5):
                token.transfer(parties.outsider, 1, sender=parties.dso)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert token.balance_of(parties.outsider) == 20


def _key_of(client: ChainClient, address: str) -> str:
    return "0x" + client._account(address).key.hex()


def test_chain_down_never_kills_a_process_that_is_not_the_recorded_anvil(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        state = tmp_path / ".flexmarket" / "chain.json"
        state.parent.mkdir()
        state.write_text(json.dumps({"pid": other.pid, "rpc_url": "http://127.0.0.1:1"}))
        assert nodes.chain_status(tmp_path)["running"] is False
        assert nodes.chain_down(tmp_path) is False
        assert other.poll() is None, "the unrelated process is still running"
    finally:
        other.kill()
        other.wait(timeout=5)
