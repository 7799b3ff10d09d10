"""``flexmarket participant uftp-key`` and ``flexmarket uftp serve`` as processes.

The participant signs the binding of its UFTP key; the operator's uftp.yaml with it passes
``serve --check`` and a tampered one is one line naming the field; the served endpoint takes a
signed TestMessage from the peer and refuses one signed with another key (HTTP 401).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from shapeshifter_uftp.client import ShapeshifterAgrDsoClient
from shapeshifter_uftp.exceptions import ClientTransportException
from uftp_kit import AGR_DOMAIN, MARKET_DOMAIN, UFTP_CP, UftpKey

from adapters.ports import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "market.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _config(server: str, chain: Any, binding: dict[str, Any], tmp: Path) -> dict[str, Any]:
    return {
        "api_url": server,
        "rpc_url": chain.node.rpc_url,
        "domain": MARKET_DOMAIN,
        "signing_key_env": "UFTP_MARKET_KEY",
        "state_path": str(tmp / "uftp.sqlite"),
        "congestion_points": {UFTP_CP: "EAN-CP-0001"},
        "peers": [
            {
                **binding,
                "endpoint": "http://127.0.0.1:9/shapeshifter/api/v3/message",
                "key_env": "AGR_MARKET_KEY",
                "congestion_points": [UFTP_CP],
            }
        ],
    }


def test_onboard_check_and_serve(chain, server, tmp_path: Path) -> None:
    agr_key, market_key = UftpKey.generate(), UftpKey.generate()
    env = _env(AGR_MARKET_KEY=chain.keys["fsp_a"], UFTP_MARKET_KEY=market_key.private)
    proc = _cli(
        "participant", "uftp-key", "--domain", AGR_DOMAIN, "--role", "AGR",
        "--public-key", agr_key.public, "--api", server, "--key-env", "AGR_MARKET_KEY",
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    binding = json.loads(proc.stdout)
    assert binding["address"] == chain.addresses["fsp_a"].lower()
    assert binding["public_key"] == agr_key.public and binding["role"] == "AGR"

    bad_role = _cli(
        "participant", "uftp-key", "--domain", AGR_DOMAIN, "--role", "CRO",
        "--public-key", agr_key.public, "--api", server, "--key-env", "AGR_MARKET_KEY",
        env=env,
    )  # fmt: skip
    assert bad_role.returncode == 1
    assert bad_role.stderr.startswith("error: --role: ") and bad_role.stderr.count("\n") == 1

    path = tmp_path / "uftp.yaml"
    cfg = _config(server, chain, binding, tmp_path)
    path.write_text(yaml.safe_dump(cfg))
    ok = _cli("uftp", "serve", "--config", str(path), "--check", env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: ")

    # the binding names the domain: moved to another domain, it no longer verifies
    tampered = tmp_path / "tampered.yaml"
    cfg["peers"][0]["domain"] = "other.example.com"
    tampered.write_text(yaml.safe_dump(cfg))
    refused = _cli("uftp", "serve", "--config", str(tampered), "--check", env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: peers[0].binding_signature: signed by ")
    assert refused.stderr.count("\n") == 1

    # served: the peer's signed TestMessage is taken; another key's is refused
    port = free_port()
    served = subprocess.Popen(
        [sys.executable, "-m", "market.cli", "uftp", "serve", "--config", str(path),
         "--port", str(port), "--poll-s", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/shapeshifter/api/v3/message"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
                break
            except httpx.HTTPError:
                assert served.poll() is None, served.stderr.read() if served.stderr else ""
                assert time.monotonic() < deadline, "uftp serve did not start"
                time.sleep(0.2)

        def client(key: UftpKey) -> ShapeshifterAgrDsoClient:
            return ShapeshifterAgrDsoClient(
                sender_domain=AGR_DOMAIN,
                signing_key=key.private,
                recipient_domain=MARKET_DOMAIN,
                recipient_endpoint=url,
                recipient_signing_key=market_key.public,
            )

        client(agr_key).send_test_message()
        with pytest.raises(ClientTransportException) as forged:
            client(UftpKey.generate()).send_test_message()
        assert forged.value.response.status_code == 401
    finally:
        served.terminate()
        out, _ = served.communicate(timeout=30)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    (taken,) = [e for e in events if e["event"] == "received"]
    assert taken["kind"] == "TestMessage" and taken["result"] == "Accepted"
    assert [e["status"] for e in events if e["event"] == "refused"] == [401]
