"""``flexmarket serve`` with nothing configured: its own anvil, a deployment and SQLite, then
a working market at the URL it prints (two server processes: the event stream shows what the
embedded worker did, whichever process answers); SIGTERM stops the chain with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from eth_abi import encode
from eth_utils import keccak
from market_helpers import new_id

from adapters.chain.deploy import dev_private_keys
from adapters.ports import free_port
from market.api.schemas import SessionCreate
from market.client import MarketClient

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_serve_without_configuration_embeds_a_chain(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "FLEXMARKET_WORKER_POLL_S": "0.2",
        "FLEXMARKET_EMBED_WORKER": "true",
    }
    port = free_port()
    log = tmp_path / "serve.err"
    with log.open("w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "market.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err_file,  # a file: server logs can never fill a pipe and stall the server
            text=True,
            start_new_session=True,
        )

    def stderr() -> str:
        return log.read_text()[-3000:]

    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the chain is up and the store migrated
        assert f"serving http://127.0.0.1:{port}" in line, stderr()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, stderr()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"server did not start: {stderr()}"
            time.sleep(0.1)
        deployment = httpx.get(f"{base}/deployment").json()
        assert deployment["chain_id"] == 31337
        assert deployment["market"] == httpx.get(f"{base}/market").json()["market_address"]

        op = MarketClient(base, dev_private_keys(1)[0])  # the embedded chain's operator
        now = int(time.time())
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
        deadline = time.monotonic() + 60
        while op.session(sid)["state"] != "OPEN":
            assert time.monotonic() < deadline, f"the worker did not open the session: {stderr()}"
            time.sleep(0.2)
        op.close()
        states = []
        with MarketClient(base) as reader:
            stream = reader.follow_events(session_id=sid)
            for message in stream:
                states.append(message.data["state"])
                if message.data["state"] == "OPEN":
                    break
            stream.close()
        assert states == ["PENDING", "OPEN"]
        # netting is on by default: the embedded chain's operator holds CLEARING_HOUSE, so the
        # worker nets FINAL sessions with it
        rpc = re.search(r"embedded chain (http://127\.0\.0\.1:\d+)", log.read_text())
        assert rpc, stderr()
        assert _has_role(rpc.group(1), deployment["market"], "CLEARING_HOUSE_ROLE", op.address)

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        with pytest.raises(httpx.HTTPError):  # the embedded anvil stopped with the server
            httpx.post(rpc.group(1), json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _has_role(rpc: str, market: str, role: str, account: str) -> bool:
    """``hasRole(keccak256(role), account)`` by a bare ``eth_call``."""
    data = keccak(text="hasRole(bytes32,address)")[:4] + encode(
        ["bytes32", "address"], [keccak(text=role), account]
    )
    call = {"to": market, "data": "0x" + data.hex()}
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]}
    return int(httpx.post(rpc, json=body).json()["result"], 16) == 1
