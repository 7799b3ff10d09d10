"""``flexmarket serve --worker`` as a real process: the embedded worker opens sessions on-chain."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from market_helpers import new_id, worker_env

from adapters.chain.types import SessionState
from adapters.ports import free_port
from clearing.encoding import uuid_to_bytes32
from market.api.schemas import SessionCreate
from market.client import MarketClient

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_serve_with_embedded_worker(chain, settings, tmp_path) -> None:
    port = free_port()
    env = worker_env(chain, settings, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "market.cli", "serve", "--port", str(port), "--worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        now = chain.client.block_timestamp()
        op = MarketClient(base, chain.keys["operator"], now=lambda: now)
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "flexmarket"
        assert httpx.get(f"{base}/docs").status_code == 200
        sid = new_id()
        op.create_session(
            SessionCreate(
                session_id=sid,
                gate_closure=now + 600,
                delivery_start=now + 600,
                delivery_end=now + 4200,
                challenge_window_s=300,
            )
        )
        deadline = time.monotonic() + 30
        while op.session(sid)["state"] != "OPEN":
            assert time.monotonic() < deadline, "embedded worker did not open the session"
            time.sleep(0.2)
        raw = chain.contracts.market.contract.call("session", uuid_to_bytes32(sid))
        assert raw["state"] == SessionState.OPEN
    finally:
        from adapters.chain.anvil import kill_process_group

        kill_process_group(proc.pid, wait=proc.wait)


def test_reindex_and_worker_commands(
    chain, runtime, clients, settings, tmp_path, monkeypatch
) -> None:
    """``flexmarket reindex`` into an empty store and ``flexmarket worker --once`` (CliRunner)."""
    import json as _json

    from market_helpers import run_session_to_final
    from typer.testing import CliRunner

    from market.cli import app

    session_id = run_session_to_final(chain, runtime, clients)
    deployment = chain.contracts.deployment.save(tmp_path / "deployment.json")
    monkeypatch.setenv("FLEXMARKET_DATABASE_URL", f"sqlite:///{tmp_path}/reindexed.db")
    monkeypatch.setenv("FLEXMARKET_RPC_URL", chain.node.rpc_url)
    monkeypatch.setenv("FLEXMARKET_DEPLOYMENT_FILE", str(deployment))
    monkeypatch.setenv("FLEXMARKET_BUNDLE_DIR", str(settings.bundle_dir))
    monkeypatch.setenv("FLEXMARKET_OPERATOR_KEY", chain.keys["operator"])
    monkeypatch.setenv("FLEXMARKET_CLOCK", "chain")
    result = CliRunner().invoke(app, ["reindex"])
    assert result.exit_code == 0, result.output
    assert _json.loads(result.output)["sessions_restored"] == [session_id]
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert _json.loads(result.output.strip().splitlines()[-1]) == {"steps": 0}  # all FINAL
