"""Audit after the fact (issue 15 item 9): a finished replay keeps its chain, and
``flexmarket audit --state`` checks the day on a throwaway anvil after the replay's is gone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.chain.deploy import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "market.cli", "audit", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_replay_keeps_its_chain_and_deployment(replayed) -> None:
    report, folder = replayed("uc4-3-terni-city")
    assert report["chain_state"] == "chain-state.json"
    state = json.loads((folder / "chain-state.json").read_text())
    assert state["blocks"] and state["transactions"]  # the history the audit's logs come from
    deployment = Deployment.load(folder / "deployment.json")
    assert deployment.rpc_url is None  # the replay's node is gone
    assert deployment.market.lower() in json.dumps(state).lower()


def test_audit_of_the_kept_state_passes_and_a_tampered_bundle_fails(replayed, tmp_path) -> None:
    _, folder = replayed("uc4-3-terni-city")
    ok = _audit("--state", str(folder / "chain-state.json"), "--bundles", str(folder))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    audited = json.loads(ok.stdout)
    assert audited["exit_code"] == 0 and audited["sessions"], audited

    copy = tmp_path / "tampered"
    shutil.copytree(folder / "bundles", copy / "bundles")
    for name in ("chain-state.json", "deployment.json"):
        shutil.copy(folder / name, copy / name)
    (delivery,) = (copy / "bundles").glob("*/delivery.json")
    data = json.loads(delivery.read_text())
    data["inputs"]["readings"][0]["import_wh"] += 700
    delivery.write_text(json.dumps(data))
    bad = _audit("--state", str(copy / "chain-state.json"), "--bundles", str(copy))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    message = json.loads(bad.stdout)["message"]
    assert message.startswith("FINDINGS") and "delivery.bad_signature" in message, message


def test_audit_state_without_a_deployment_is_a_one_line_error(tmp_path) -> None:
    state = tmp_path / "chain-state.json"
    state.write_text("{}")
    result = _audit("--state", str(state))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --state: no deployment.json beside {state} or in --bundles; pass --market ADDRESS"
    ]
