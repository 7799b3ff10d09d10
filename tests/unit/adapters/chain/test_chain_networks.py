"""The networks file: the sample parses, and every kind of malformed file names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.chain.networks import (
    NetworksFileError,
    load_networks,
    networks_path,
    parse_networks,
)
from adapters.chain.toolchain import project_root

GOOD = """
networks:
  test:
    rpc_url: http://127.0.0.1:8545
    chain_id: 31337
    deployer_key_env: DEPLOYER_KEY
"""
KEY = "0x" + "ab" * 32


def _error(text: str) -> str:
    with pytest.raises(NetworksFileError) as info:
        parse_networks(text, Path("nets.yaml"))
    return str(info.value)


def test_the_sample_file_parses_with_its_fee_caps() -> None:
    nets = load_networks(project_root() / "networks.example.yaml")
    sepolia = nets.network("sepolia")
    assert sepolia.chain_id == 11155111 and sepolia.confirmations == 3
    assert sepolia.fee_caps().max_fee_per_gas_wei == 50 * 10**9
    assert nets.network("local").fee_caps().max_fee_per_gas_wei is None


def test_a_minimal_entry_defaults_to_no_confirmations_and_no_caps() -> None:
    net = parse_networks(GOOD, Path("n.yaml")).network("test")
    assert net.confirmations == 0 and net.max_priority_fee_per_gas_wei is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("chain_id: 31337", "chain_id: 31337\n    confirmation: 2"),
            "networks.test.confirmation: unknown key",
        ),
        (
            GOOD.replace("DEPLOYER_KEY", KEY),
            "networks.test.deployer_key_env: looks like a private key",
        ),
        (GOOD + "    private_key: " + KEY + "\n", "networks.test.private_key: unknown key"),
        (
            GOOD.replace("chain_id: 31337", 'chain_id: "31337"'),
            "networks.test.chain_id: Input should be a valid integer",
        ),
        (
            GOOD.replace("chain_id: 31337", "chain_id: 0"),
            "networks.test.chain_id: Input should be greater than 0",
        ),
        (GOOD.replace("http://", "ws://"), "networks.test.rpc_url: must be an http:// or https://"),
        (GOOD.replace("    chain_id: 31337\n", ""), "networks.test.chain_id: Field required"),
        (GOOD + "    max_fee_per_gas_wei: 1.5e9\n", "networks.test.max_fee_per_gas_wei"),
        (
            GOOD.replace("DEPLOYER_KEY", "deployer key"),
            "networks.test.deployer_key_env: must be an environment variable name",
        ),
        ("networks: {}\n", "nets.yaml: networks: must name at least one network"),
        ("nets:\n  a: 1\n", "nets: unknown key"),
        ("- a\n- b\n", "must be a mapping"),
        ("networks: [\n", "not valid YAML"),
        (GOOD.replace("  test:", "  Test Net:"), "network name 'Test Net'"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_field(text: str, expected: str) -> None:
    message = _error(text)
    assert message.startswith("nets.yaml: ") or "not valid YAML" in message
    assert expected in message


def test_an_unknown_network_lists_the_known_ones() -> None:
    nets = parse_networks(GOOD, Path("n.yaml"))
    with pytest.raises(
        NetworksFileError, match=r"--network: 'main' is not in the file \(known: test\)"
    ):
        nets.network("main")


def test_the_deployer_key_comes_from_the_named_variable_only() -> None:
    net = parse_networks(GOOD, Path("n.yaml")).network("test")
    assert net.deployer_key({"DEPLOYER_KEY": KEY}) == KEY
    with pytest.raises(NetworksFileError, match="DEPLOYER_KEY: not set"):
        net.deployer_key({})
    with pytest.raises(NetworksFileError, match="DEPLOYER_KEY: not a 32-byte hex private key"):
        net.deployer_key({"DEPLOYER_KEY": "hunter2"})


def test_file_location_flag_then_variable_then_cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLEXMARKET_NETWORKS_FILE", raising=False)
    assert networks_path(None, cwd=tmp_path) == tmp_path / "networks.yaml"
    monkeypatch.setenv("FLEXMARKET_NETWORKS_FILE", "/x/n.yaml")
    assert networks_path(None, cwd=tmp_path) == Path("/x/n.yaml")
    assert networks_path(tmp_path / "f.yaml") == tmp_path / "f.yaml"
    with pytest.raises(NetworksFileError, match="networks file not found"):
        load_networks(tmp_path / "missing.yaml")
