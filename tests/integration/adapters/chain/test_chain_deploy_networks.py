"""`flexmarket deploy --network` and `deploy --verify` on real anvil and Hardhat nodes.

Each node is this module's own (not the session's shared anvil), so tampering with code and
the deployer's nonces cannot leak into other tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from adapters.chain.anvil import AnvilNode, rpc_call
from adapters.chain.deploy import Deployment
from adapters.chain.nodes import local_node
from adapters.chain.toolchain import compile_contracts
from market.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
KEY_ENV = "FLEXMARKET_TEST_DEPLOYER_KEY"


@pytest.fixture(
    scope="module", params=["anvil", pytest.param("hardhat", marks=pytest.mark.hardhat)]
)
def node(request: pytest.FixtureRequest) -> Iterator[AnvilNode]:
    with local_node(request.param, accounts=2) as started:
        yield started


def _networks(tmp_path: Path, node: AnvilNode, chain_id: int | None = None) -> Path:
    path = tmp_path / "networks.yaml"
    path.write_text(
        "networks:\n"
        "  dev:\n"
        f"    rpc_url: {node.rpc_url}\n"
        f"    chain_id: {chain_id or node.chain_id}\n"
        "    confirmations: 0\n"
        "    max_fee_per_gas_wei: 100000000000\n"
        f"    deployer_key_env: {KEY_ENV}\n"
    )
    return path


def _deploy(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["deploy", *args])
    return result.exit_code, result.stdout, result.stderr


def _deployer(node: AnvilNode) -> str:
    address: str = Account.from_key(node.private_keys[1]).address
    return address


def _nonce(node: AnvilNode, address: str) -> int:
    return int(rpc_call(node.rpc_url, "eth_getTransactionCount", [address, "latest"]), 16)


def test_deploy_to_a_named_network_checks_the_code_and_verify_rechecks_it(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, node.private_keys[1])
    nets, out = _networks(tmp_path, node), tmp_path / "deployment.json"
    code, stdout, stderr = _deploy("--network", "dev", "--networks", str(nets), "--out", str(out))
    assert code == 0, stdout + stderr
    deployment = Deployment.load(out)
    assert deployment.network == "dev" and deployment.chain_id == node.chain_id
    assert deployment.deployer == _deployer(node)
    for name in ("SettlementToken", "FlexMarket", "FlexPositions"):
        assert f"code {name:<15} " in stdout and "MISMATCH" not in stdout
    assert stdout.count("ok: matches the build") == 3
    assert "code NettingLedger   0x" in stdout and "its code is the build's" in stdout
    assert "code SignedWithdrawals 0x" in stdout
    assert (
        "immutables" in stdout and "ok: token, positions and market point at each other" in stdout
    )

    code, stdout, stderr = _deploy(
        "--verify", "--network", "dev", "--networks", str(nets), "--out", str(out)
    )
    assert code == 0, stdout + stderr
    assert stdout.count("ok: matches the build") == 3 and "MISMATCH" not in stdout

    # without a networks file: the RPC given directly
    code, stdout, stderr = _deploy("--verify", "--rpc", node.rpc_url, "--out", str(out))
    assert code == 0, stdout + stderr
    assert stdout.count("ok: matches the build") == 3


def test_a_network_whose_chain_id_differs_is_refused_before_anything_is_sent(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, node.private_keys[1])
    nets, out = _networks(tmp_path, node, chain_id=11155111), tmp_path / "deployment.json"
    before = _nonce(node, _deployer(node))
    code, _, stderr = _deploy("--network", "dev", "--networks", str(nets), "--out", str(out))
    assert code == 1
    assert f"chain_id: the file says 11155111, but {node.rpc_url} is chain id" in stderr
    assert _nonce(node, _deployer(node)) == before and not out.exists()


def test_tampered_code_at_a_deployed_address_is_detected(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, node.private_keys[1])
    nets, out = _networks(tmp_path, node), tmp_path / "deployment.json"
    assert _deploy("--network", "dev", "--networks", str(nets), "--out", str(out))[0] == 0
    deployment = Deployment.load(out)
    code_hex = rpc_call(node.rpc_url, "eth_getCode", [deployment.market, "latest"])
    body = bytearray(bytes.fromhex(code_hex[2:]))
    body[40] ^= 0x01  # one flipped bit in the market's runtime code
    set_code = "hardhat_setCode" if node.kind == "hardhat" else "anvil_setCode"
    rpc_call(node.rpc_url, set_code, [deployment.market, "0x" + body.hex()])

    code, stdout, stderr = _deploy(
        "--verify", "--network", "dev", "--networks", str(nets), "--out", str(out)
    )
    assert code == 1
    assert (
        f"code FlexMarket      {deployment.market} MISMATCH: code differs from the build at byte 40"
        in stdout
    )
    assert stdout.count("ok: matches the build") == 2
    assert "on-chain code does not match the build" in stderr


def test_a_linked_library_swapped_for_other_code_is_detected(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FlexMarket's own code masks the library's address, so its comparison passes; the
    library (run by DELEGATECALL on the market's storage) must be checked at that address."""
    monkeypatch.setenv(KEY_ENV, node.private_keys[1])
    nets, out = _networks(tmp_path, node), tmp_path / "deployment.json"
    assert _deploy("--network", "dev", "--networks", str(nets), "--out", str(out))[0] == 0
    deployment = Deployment.load(out)
    (_lib, start, length), *_ = compile_contracts()["FlexMarket"].runtime_link_references
    market_code = rpc_call(node.rpc_url, "eth_getCode", [deployment.market, "latest"])
    library = "0x" + market_code[2 + 2 * start : 2 + 2 * (start + length)]
    body = bytearray(bytes.fromhex(rpc_call(node.rpc_url, "eth_getCode", [library, "latest"])[2:]))
    body[-40] ^= 0x01  # one flipped bit in the library's runtime code
    set_code = "hardhat_setCode" if node.kind == "hardhat" else "anvil_setCode"
    rpc_call(node.rpc_url, set_code, [library, "0x" + body.hex()])

    code, stdout, stderr = _deploy(
        "--verify", "--network", "dev", "--networks", str(nets), "--out", str(out)
    )
    assert code == 1, stdout + stderr
    assert stdout.count("ok: matches the build") == 3  # FlexMarket itself still compares equal
    assert f"code NettingLedger   {library} MISMATCH: code differs from the build" in stdout
    assert "on-chain code does not match the build" in stderr


def test_a_swapped_immutable_passes_the_masked_compare_but_not_the_wiring_check(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, node.private_keys[1])
    nets, out = _networks(tmp_path, node), tmp_path / "deployment.json"
    assert _deploy("--network", "dev", "--networks", str(nets), "--out", str(out))[0] == 0
    deployment = Deployment.load(out)
    (start, length), *_ = compile_contracts()["FlexPositions"].immutable_ranges
    code_hex = rpc_call(node.rpc_url, "eth_getCode", [deployment.positions, "latest"])
    body = bytearray(bytes.fromhex(code_hex[2:]))
    impostor = bytes.fromhex(deployment.token[2:])  # positions now names another "market"
    body[start + length - 20 : start + length] = impostor
    set_code = "hardhat_setCode" if node.kind == "hardhat" else "anvil_setCode"
    rpc_call(node.rpc_url, set_code, [deployment.positions, "0x" + body.hex()])

    code, stdout, stderr = _deploy(
        "--verify", "--network", "dev", "--networks", str(nets), "--out", str(out)
    )
    assert code == 1, stdout + stderr
    assert stdout.count("ok: matches the build") == 3
    assert (
        f"code immutables {deployment.market} MISMATCH: "
        f"FlexPositions.market is {deployment.token}, expected {deployment.market}"
    ) in " ".join(stdout.split())


def test_malformed_networks_files_and_a_missing_key_are_one_line_errors(
    node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nets, out = _networks(tmp_path, node), tmp_path / "deployment.json"
    monkeypatch.delenv(KEY_ENV, raising=False)
    code, _, stderr = _deploy("--network", "dev", "--networks", str(nets), "--out", str(out))
    assert code == 1 and f"{KEY_ENV}: not set" in stderr

    monkeypatch.setenv(KEY_ENV, node.private_keys[1])
    code, _, stderr = _deploy("--network", "prod", "--networks", str(nets), "--out", str(out))
    assert code == 1 and "--network: 'prod' is not in the file (known: dev)" in stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(nets.read_text().replace("confirmations:", "confirmation:"))
    code, _, stderr = _deploy("--network", "dev", "--networks", str(bad), "--out", str(out))
    assert code == 1 and "networks.dev.confirmation: unknown key" in stderr

    monkeypatch.setenv("FLEXMARKET_NETWORKS_FILE", str(tmp_path / "nowhere.yaml"))
    code, _, stderr = _deploy("--network", "dev", "--out", str(out))
    assert code == 1 and "nowhere.yaml: networks file not found" in stderr
    assert not out.exists()
    assert len(stderr.strip().splitlines()) == 1
