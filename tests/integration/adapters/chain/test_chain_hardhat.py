"""The chain adapter on the second node implementation, Hardhat Network.

The same tests as on anvil, imported from their modules and collected here against a Hardhat
node (the module overrides ``anvil_node``, ``chain`` and ``_market_base``): deployment, the
whole lifecycle, events in block ranges, permit, named reverts of every kind, EIP-1559 fees
and caps, a stuck transaction replaced with mining switched off. Plus what only
Hardhat needs: its own dev RPCs, a revert mined with status 0, ``chain up --node hardhat``
and ``demo --node hardhat``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_chain_anvil import (
    test_accounts_are_deterministic_and_funded,
    test_concurrent_senders_share_one_nonce_sequence,
    test_nonces_resync_after_an_outside_transaction,
    test_time_moves_only_forward_and_exactly,
)
from test_chain_lifecycle import (
    test_events_are_read_back_in_bounded_block_ranges,
    test_full_lifecycle_pays_fsps_refunds_dso_and_empties_the_market,
    test_post_request_with_permit_needs_no_separate_approve,
    test_worst_case_bounded_loops_fit_in_a_30m_gas_block,
)
from test_chain_refusals import (
    s,
    test_attest_with_a_tampered_reservation_list_is_refused,
    test_budget_above_uint64_is_refused,
    test_create_session_by_an_fsp_is_not_authorized,
    test_dispute_inside_the_window_then_arbiter_resolves_to_final,
    test_finalize_inside_the_challenge_window_is_too_early,
    test_request_after_the_session_closed_is_refused_as_session_not_open,
    test_request_without_allowance_fails_in_the_token,
    test_second_withdraw_finds_nothing,
)
from test_chain_txmanager import (
    test_a_base_fee_above_the_cap_sends_nothing,
    test_a_stuck_transaction_is_replaced_with_higher_fees_and_mined_once,
    test_transactions_are_type_2_with_fees_within_the_caps,
)

from adapters.chain import errors as E
from adapters.chain import nodes
from adapters.chain.anvil import AnvilError, AnvilNode, rpc_call
from adapters.chain.client import ChainClient
from adapters.chain.deploy import MarketContracts
from adapters.chain.hardhat import HardhatNode
from adapters.chain.nodes import local_node
from adapters.chain.revert import TransactionFailed
from adapters.chain.toolchain import compile_contracts, project_root

pytestmark = [pytest.mark.integration, pytest.mark.hardhat, pytest.mark.timeout(300)]

SHARED = (  # collected here, run against Hardhat (``s`` is the refusal tests' fixture)
    s,
    test_accounts_are_deterministic_and_funded,
    test_concurrent_senders_share_one_nonce_sequence,
    test_nonces_resync_after_an_outside_transaction,
    test_time_moves_only_forward_and_exactly,
    test_events_are_read_back_in_bounded_block_ranges,
    test_full_lifecycle_pays_fsps_refunds_dso_and_empties_the_market,
    test_post_request_with_permit_needs_no_separate_approve,
    test_worst_case_bounded_loops_fit_in_a_30m_gas_block,
    test_attest_with_a_tampered_reservation_list_is_refused,
    test_budget_above_uint64_is_refused,
    test_create_session_by_an_fsp_is_not_authorized,
    test_dispute_inside_the_window_then_arbiter_resolves_to_final,
    test_finalize_inside_the_challenge_window_is_too_early,
    test_request_after_the_session_closed_is_refused_as_session_not_open,
    test_request_without_allowance_fails_in_the_token,
    test_second_withdraw_finds_nothing,
    test_a_base_fee_above_the_cap_sends_nothing,
    test_a_stuck_transaction_is_replaced_with_higher_fees_and_mined_once,
    test_transactions_are_type_2_with_fees_within_the_caps,
)


@pytest.fixture(scope="module")
def anvil_node() -> Iterator[AnvilNode]:
    with HardhatNode(accounts=10) as node:
        yield node


@pytest.fixture(scope="module")
def node(anvil_node: AnvilNode) -> AnvilNode:
    return anvil_node  # the transaction-manager tests' name for it


@pytest.fixture(scope="module")
def chain(anvil_node: AnvilNode) -> ChainClient:
    return ChainClient(
        anvil_node.rpc_url, private_keys=anvil_node.private_keys, artifacts=compile_contracts()
    )


@pytest.fixture(scope="module")
def _market_base(anvil_node: AnvilNode, deploy_base):  # type: ignore[no-untyped-def]
    return deploy_base(anvil_node)


def test_the_node_is_hardhat_and_uses_its_own_dev_rpcs(anvil_node: AnvilNode) -> None:
    assert str(anvil_node.rpc("web3_clientVersion")).startswith("HardhatNetwork/")
    assert anvil_node.get_chain_id() == 31337
    assert anvil_node.dev_prefix == "hardhat_"
    anvil_node.set_balance("0x" + "01" * 20, 12_345)  # hardhat_setBalance, not anvil_setBalance
    assert int(anvil_node.rpc("eth_getBalance", "0x" + "01" * 20, "latest"), 16) == 12_345


def test_a_revert_mined_with_status_0_names_its_cause(deployment: MarketContracts, parties) -> None:
    """With ``gas`` given, simulation is skipped: the transaction is mined and reverts, and the
    client replays it to name the custom error (Hardhat, like a real node, does not refuse it)."""
    market = deployment.market
    data = market.contract.encode(  # by an FSP: not authorized
        "createSession", b"\x01" * 32, 1, 1, 2, 900, 60, b"\x02" * 32
    )
    before = deployment.client.block_number()
    with pytest.raises(TransactionFailed) as info:
        deployment.client.send(market.address, data, sender=parties.fsps[0], gas=200_000)
    assert deployment.client.block_number() == before + 1, "it was mined"
    assert isinstance(info.value.cause, E.AccessControlUnauthorizedAccount)
    assert info.value.cause.account == parties.fsps[0]
    assert 0 < info.value.gas_used < 200_000


def test_embedded_hardhat_leaves_no_config_and_no_process(tmp_path: Path) -> None:
    node = local_node("hardhat", accounts=2)
    assert isinstance(node, HardhatNode)
    with node:
        pid, config = node.pid, node.config_path()
        assert config.is_file() and "31337" in config.read_text()
        assert rpc_call(node.rpc_url, "eth_accounts")[0].lower() == (
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # anvil's first dev account
        )
    assert pid is not None and not config.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(AnvilError, match="unknown implementation 'geth'"):
        local_node("geth")


def test_chain_up_node_hardhat_status_down(tmp_path: Path) -> None:
    info = nodes.chain_up(root=tmp_path, node="hardhat")
    try:
        assert info["node"] == "hardhat"
        status = nodes.chain_status(tmp_path)
        assert status["running"] is True and status["rpc_url"] == info["rpc_url"]
        assert (tmp_path / ".flexmarket" / "hardhat" / "hardhat.config.js").is_file()
        with pytest.raises(AnvilError, match="hardhat: already running"):
            nodes.chain_up(root=tmp_path, node="anvil")
    finally:
        assert nodes.chain_down(tmp_path) is True
    assert nodes.chain_status(tmp_path) == {"running": False}


def test_demo_node_hardhat_runs_one_lifecycle_and_exits_zero() -> None:
    env = {**os.environ, "PYTHONPATH": str(project_root())}
    env.pop("FLEXMARKET_RPC_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "market.cli", "demo", "--node", "hardhat"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=project_root(),
    )
    assert done.returncode == 0, done.stderr
    assert "embedded hardhat" in done.stdout
    assert "FINAL" in done.stdout and "market balance = escrowed + credited: ok" in done.stdout


def test_demo_refuses_an_unknown_node_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "market.cli", "demo", "--node", "geth"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(project_root())},
        timeout=60,
    )
    assert done.returncode == 1
    assert "--node: unknown implementation 'geth'" in done.stderr
