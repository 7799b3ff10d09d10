"""`flexmarket demo` and `flexmarket deploy` through the Typer app (real anvil)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.chain.anvil import AnvilNode
from adapters.chain.deploy import Deployment
from market.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_demo_runs_one_lifecycle_on_an_embedded_chain_and_exits_zero(monkeypatch) -> None:
    monkeypatch.delenv("FLEXMARKET_RPC_URL", raising=False)
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    for action in (
        "createSession",
        "postRequest",
        "commitOffers",
        "closeSession",
        "postClearing",
        "attestDelivery",
        "finalize",
        "withdraw",
    ):
        assert action in result.output
    assert "FINAL" in result.output
    assert "market balance = escrowed + credited: ok" in result.output


def test_deploy_writes_a_deployment_file_other_commands_can_read(
    monkeypatch, anvil_node: AnvilNode, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLEXMARKET_RPC_URL", anvil_node.rpc_url)
    out = tmp_path / "deployment.json"
    result = CliRunner().invoke(app, ["deploy", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["chain_id"] == 31337 and data["deploy_block"] >= 1
    assert set(data["abi_hashes"]) == {"SettlementToken", "FlexMarket", "FlexPositions"}
    deployment = Deployment.load(out)
    assert deployment.market != deployment.token != deployment.positions
    assert deployment.token_deployed

    # --token reuses an existing ERC-20
    out2 = tmp_path / "second.json"
    result = CliRunner().invoke(app, ["deploy", "--out", str(out2), "--token", deployment.token])
    assert result.exit_code == 0, result.output
    second = Deployment.load(out2)
    assert second.token == deployment.token and not second.token_deployed


def test_deploy_to_an_unreachable_rpc_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["deploy", "--rpc", "http://127.0.0.1:9", "--out", str(tmp_path / "d.json")]
    )
    assert result.exit_code == 1
    assert "node unreachable" in result.output
    assert not (tmp_path / "d.json").exists()


def test_bench_gas_prints_json_on_stdout_and_a_table_otherwise(monkeypatch) -> None:
    """Output formatting only: the benchmark itself is run by `flexmarket bench gas`."""
    import adapters.chain.bench as bench

    targets = dict(bench.TARGETS)
    fake = dict.fromkeys(targets, 0) | {
        "targets": targets,
        "meets_targets": dict.fromkeys(targets, True),
        "terms_hash_added_gas_per_session": 20_284,
        "netting": {"gas_per_session": 324_284, "gas_per_party": 32_428},
    }
    monkeypatch.setattr(bench, "run_gas_bench", lambda progress: (progress("step"), fake)[1])
    result = CliRunner().invoke(app, ["bench", "gas", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1]) == fake
    table = CliRunner().invoke(app, ["bench", "gas"])
    assert table.exit_code == 0 and "gas_per_extra_fsp" in table.stdout
    assert "terms_hash_added_gas_per_session" in table.stdout and "20284" in table.stdout
    assert "netting_gas_per_party" in table.stdout and "32428" in table.stdout
