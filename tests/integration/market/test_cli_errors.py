"""A failing command ends with one line on stderr that names the setting, and a non-zero exit;
``--debug`` shows the traceback instead. Real subprocesses, as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's first
SECRET = "f" * 64


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "market.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


CASES = [
    (["worker", "--once"], {"FLEXMARKET_PORT": "abc"}, "FLEXMARKET_PORT: Input should be"),
    (["serve"], {"FLEXMARKET_MODE": "prod"}, "FLEXMARKET_MODE: Input should be"),
    (["serve"], {"FLEXMARKET_MODE": "production"}, "FLEXMARKET_TOKEN_SECRET: production mode"),
    (
        ["serve"],
        {"FLEXMARKET_MODE": "production", "FLEXMARKET_TOKEN_SECRET": SECRET},
        "FLEXMARKET_RPC_URL: production mode needs",
    ),
    (
        ["serve"],
        {
            "FLEXMARKET_MODE": "production",
            "FLEXMARKET_TOKEN_SECRET": SECRET,
            "FLEXMARKET_RPC_URL": "http://127.0.0.1:9",
            "FLEXMARKET_OPERATOR_KEY": DEV_KEY,
        },
        "FLEXMARKET_OPERATOR_KEY: is a publicly known anvil development key",
    ),
    (
        ["serve"],
        {
            "FLEXMARKET_MODE": "production",
            "FLEXMARKET_TOKEN_SECRET": SECRET,
            "FLEXMARKET_RPC_URL": "http://127.0.0.1:9",
            "FLEXMARKET_OPERATOR_KEY": "0x" + "11" * 32,
        },
        "FLEXMARKET_CLEARING_HOUSE_KEY: production mode nets every session",
    ),
    (
        ["serve"],
        {"FLEXMARKET_DEPLOYMENT_FILE": "/nonexistent/deployment.json"},
        "FLEXMARKET_DEPLOYMENT_FILE: is set but no chain is",
    ),
    (
        ["serve", "--workers", "2"],
        {"FLEXMARKET_RPC_URL": "http://127.0.0.1:9", "FLEXMARKET_DEPLOYMENT_FILE": "{deployment}"},
        "FLEXMARKET_RPC_URL (or --rpc): eth_chainId at http://127.0.0.1:9: node unreachable",
    ),
    (
        ["serve", "--workers", "2"],
        {"FLEXMARKET_RPC_URL": "http://127.0.0.1:9", "FLEXMARKET_DEPLOYMENT_FILE": "/nope.json"},
        "deployment: /nope.json not found; run `flexmarket deploy`",
    ),
    (
        ["db", "upgrade", "--url", "postgresql://nobody@127.0.0.1:9/none"],
        {},
        "FLEXMARKET_DATABASE_URL (or --db/--url): cannot open the database",
    ),
]


@pytest.mark.parametrize(("args", "env", "expected"), CASES, ids=[c[2][:30] for c in CASES])
def test_user_errors_are_one_line(args, env, expected, tmp_path) -> None:
    deployment = tmp_path / "deployment.json"
    deployment.write_text(
        '{"chain_id": 31337, "token": "0x1", "market": "0x2", "positions": "0x3", '
        '"deploy_block": 1, "deployer": "0x4", "abi_hashes": {}}'
    )
    env = {k: v.replace("{deployment}", str(deployment)) for k, v in env.items()}
    done = _run(args, {"FLEXMARKET_DATABASE_URL": f"sqlite:///{tmp_path}/x.db", **env}, tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("flexmarket: error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in done.stderr


def test_no_chain_for_a_command_that_needs_one_names_the_setting(tmp_path) -> None:
    env = {"FLEXMARKET_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    done = _run(["reindex"], env, tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("flexmarket: error: FLEXMARKET_RPC_URL: no chain configured")
    assert "flexmarket chain up" in line


def test_usage_errors_are_one_line_too(tmp_path) -> None:
    done = _run(["csms", "--credentials", str(tmp_path / "missing.json")], {}, tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("flexmarket: error: Invalid value for --credentials")
    assert line.endswith("(see --help)")


def test_debug_shows_the_traceback(tmp_path) -> None:
    done = _run(["--debug", "serve"], {"FLEXMARKET_MODE": "production"}, tmp_path)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) > 3
    assert "SettingError" in done.stderr and "FLEXMARKET_TOKEN_SECRET" in done.stderr
