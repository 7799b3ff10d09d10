"""``flexmarket admin grant-role|revoke-role|roles`` against a real anvil deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils import keccak
from typer.testing import CliRunner

from market.cli import app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def admin_env(chain, tmp_path) -> dict[str, str]:
    deployment = chain.contracts.deployment.save(tmp_path / "deployment.json")
    return {
        "FLEXMARKET_RPC_URL": chain.node.rpc_url,
        "FLEXMARKET_DEPLOYMENT_FILE": str(deployment),
        "FLEXMARKET_OPERATOR_KEY": chain.keys["operator"],
    }


def _cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def _subprocess(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_")}
    return subprocess.run(
        [sys.executable, "-m", "market.cli", *args],
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_grant_revoke_and_list_roles(chain, admin_env) -> None:
    market = chain.contracts.market
    who = chain.addresses["outsider"]
    assert not market.contract.call("isRegistered", who)

    out = _cli(admin_env, "admin", "grant-role", "fsp", who.lower())
    assert out.startswith(f"granted FSP {who} (tx 0x")
    assert market.has_role(market.role("FSP"), who)
    # a market role registers the account: the contract clears only registered FSPs
    assert market.contract.call("isRegistered", who)
    metadata = market.participant_metadata(who)

    change = json.loads(_cli(admin_env, "admin", "grant-role", "DSO_ROLE", who, "--json"))
    assert change == {"account": who, "changed": True, "role": "DSO", "tx_hash": change["tx_hash"]}
    assert market.has_role(market.role("FSP"), who) and market.has_role(market.role("DSO"), who)
    assert market.participant_metadata(who) == metadata
    assert "already holds FSP; nothing sent" in _cli(admin_env, "admin", "grant-role", "FSP", who)

    assert json.loads(_cli(admin_env, "admin", "roles", who, "--json")) == {who: ["DSO", "FSP"]}
    _cli(admin_env, "admin", "revoke-role", "FSP", who)
    assert not market.has_role(market.role("FSP"), who)
    assert market.contract.call("isRegistered", who)  # still registered, credits kept
    assert "does not hold FSP" in _cli(admin_env, "admin", "revoke-role", "FSP", who)

    everyone = json.loads(_cli(admin_env, "admin", "roles", "--json"))
    operator = chain.addresses["operator"]
    assert {"DEFAULT_ADMIN", "MARKET_OPERATOR"} <= set(everyone[operator])
    assert everyone[chain.addresses["fsp_a"]] == ["FSP"]
    assert everyone[who] == ["DSO"]


def test_role_command_refusals_are_one_line(chain, admin_env) -> None:
    market = chain.contracts.market
    who = chain.addresses["outsider"]
    outsider_env = {**admin_env, "OUTSIDER_KEY": chain.keys["outsider"]}
    cases = [
        (("grant-role", "SUPERUSER", who), admin_env, "ROLE: unknown role 'SUPERUSER'"),
        (("grant-role", "FSP", "0x1234"), admin_env, "ADDRESS: '0x1234' is not an address"),
        (
            ("grant-role", "FSP", who, "--key-env", "OUTSIDER_KEY"),
            outsider_env,
            f"OUTSIDER_KEY: its account {who} is not an admin (DEFAULT_ADMIN)",
        ),
        (
            ("revoke-role", "FSP", who, "--key-env", "NO_SUCH_VAR"),
            admin_env,
            "NO_SUCH_VAR: not set",
        ),
    ]
    for args, env, expected in cases:
        done = _subprocess(env, "admin", *args)
        assert done.returncode == 1, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("flexmarket: error: ") and expected in line, line
    assert not market.has_role(market.role("FSP"), who)  # nothing was sent
    assert market.participant_metadata(who) == bytes(32) != keccak(text="")


def test_the_indexer_follows_a_revoked_role(chain, admin_env, runtime) -> None:
    """A revocation reaches the API at once: the indexer drops the cached roles and the
    store's participant record, instead of waiting for the role cache to expire."""
    from sqlmodel import Session

    from market.indexer import Indexer
    from market.roles import RoleCache
    from market.store import models as m

    who = chain.addresses["outsider"]
    cache = RoleCache(runtime.ledger.roles_of, ttl_s=3600)
    start = chain.contracts.market.deploy_block
    indexer = Indexer(runtime.engine, runtime.ledger, start, roles=cache)
    _cli(admin_env, "admin", "grant-role", "FSP", who)
    _cli(admin_env, "admin", "grant-role", "DSO", who)
    indexer.sync()
    with Session(runtime.engine) as db:
        participant = db.get(m.Participant, who.lower())
        assert participant is not None and participant.roles == "DSO,FSP"
    assert cache.roles_of(who) == {"DSO", "FSP"}

    _cli(admin_env, "admin", "revoke-role", "FSP", who)
    assert cache.roles_of(who) == {"DSO", "FSP"}  # cached for an hour ...
    indexer.sync()
    assert cache.roles_of(who) == {"DSO"}  # ... unless the indexer sees the revocation
    with Session(runtime.engine) as db:
        participant = db.get(m.Participant, who.lower())
        assert participant is not None and participant.roles == "DSO"
