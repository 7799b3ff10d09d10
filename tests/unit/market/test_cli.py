"""Pins the ``flexmarket`` command tree: every command path with its option names.

A renamed command or option breaks scripts and docs that call it; change this table only on
purpose.
"""

from __future__ import annotations

from typing import Any

import typer.main

from market.cli import app

# command path -> option declarations (arguments by their parameter name), in declared order
EXPECTED_COMMANDS: dict[str, list[str]] = {
    "admin": [],
    "admin grant-role": ["role", "address", "--rpc", "--market", "--key-env", "--json"],
    "admin revoke-role": ["role", "address", "--rpc", "--market", "--key-env", "--json"],
    "admin roles": ["address", "--rpc", "--market", "--json"],
    "arbiter": [],
    "arbiter resolve": ["session_id"],
    "audit": [
        "--rpc",
        "--market",
        "--state",
        "--bundles",
        "--session",
        "--receipts",
        "--uftp-evidence",
        "--station-keys",
        "--from-block",
        "--step",
        "--json",
    ],
    "bench": [],
    "bench api": [
        "--offers",
        "--clients",
        "--db",
        "--db-url",
        "--server-workers",
        "--processes",
        "--workers",
        "--sessions",
        "--json",
    ],
    "bench live": ["--fsps", "--stations", "--seed", "--report"],
    "bench intraday": ["--offers", "--fsps", "--stations", "--seed", "--report"],
    "bench audit": ["--offers", "--fsps", "--seed", "--json", "--no-json"],
    "bench fuzz": ["--examples", "--seed", "--steps", "--db"],
    "bench clearing": [
        "--offers",
        "--seed",
        "--seeds",
        "--skip-cbc",
        "--json",
        "--time-limit",
        "--cbc-time-limit",
    ],
    "bench gas": ["--json"],
    "bench ocpp": [
        "--stations",
        "--json",
        "--window-s",
        "--speed",
        "--meter-interval-s",
        "--dispatch-rounds",
        "--sqlite",
        "--no-sqlite",
        "--sign",
        "--no-sign",
    ],
    "chain": [],
    "chain down": [],
    "chain status": ["--json"],
    "chain up": ["--port", "--node"],
    "clearing": [],
    "clearing settle": ["session_id"],
    "csms": [
        "--host",
        "--port",
        "--credentials",
        "--security-profile",
        "--tls-cert",
        "--tls-key",
        "--tls-ca",
        "--stations",
        "--dev",
        "--admin-socket",
        "--db",
        "--meter-interval-s",
        "--max-connections-per-ip",
        "--status-every-s",
    ],
    "csms passwd": ["station", "--credentials"],
    "csms send": ["station", "action", "--json", "--admin-socket", "--timeout-s"],
    "db": [],
    "db upgrade": ["--url", "--revision"],
    "demo": ["--rpc", "--node"],
    "deploy": ["--rpc", "--out", "--token", "--network", "--networks", "--verify"],
    "dso": [],
    "dso run": ["--config", "--check", "--once"],
    "fsp": [],
    "fsp run": ["--config", "--check", "--once"],
    "fsp token": ["--config", "--user"],
    "live": ["scenario", "--report", "--seed", "--audit", "--no-audit"],
    "participant": [],
    "participant assets": ["--api", "--key-env", "--rpc"],
    "participant commit": ["--file", "--api", "--key-env", "--rpc"],
    "participant dispute": ["--session", "--reason", "--evidence", "--api", "--key-env", "--rpc"],
    "participant dso-statement": ["--period", "--format", "--api", "--key-env", "--rpc"],
    "participant fund": ["--amount-units", "--api", "--key-env", "--rpc"],
    "participant login": ["--api", "--key-env", "--rpc"],
    "participant offer": ["--file", "--api", "--key-env", "--rpc"],
    "participant orders": [
        "--session",
        "--wait",
        "--timeout-s",
        "--poll-s",
        "--api",
        "--key-env",
        "--rpc",
    ],
    "participant prognosis": ["--file", "--api", "--key-env", "--rpc"],
    "participant readings": ["--file", "--api", "--key-env", "--rpc"],
    "participant register": ["--name", "--eic", "--api", "--key-env", "--rpc"],
    "participant register-asset": [
        "--asset-id",
        "--station",
        "--evse",
        "--congestion-point",
        "--max-import-w",
        "--max-export-w",
        "--meter-key",
        "--api",
        "--key-env",
        "--rpc",
    ],
    "participant register-station": [
        "--station",
        "--meter-key",
        "--grant-to",
        "--api",
        "--key-env",
        "--rpc",
    ],
    "participant claim": ["--code", "--to", "--api", "--key-env", "--rpc"],
    "participant request": ["--file", "--api", "--key-env", "--rpc"],
    "participant sessions": ["--state", "--api", "--key-env", "--rpc"],
    "participant sign-template": ["--template", "--chain-id", "--market", "--key-env"],
    "participant statements": ["--session", "--format", "--api", "--key-env", "--rpc"],
    "participant uftp-key": ["--domain", "--role", "--public-key", "--api", "--key-env"],
    "privacy": [],
    "privacy erase": ["user", "--config", "--market-db", "--by"],
    "participant withdraw": ["--api", "--key-env", "--rpc"],
    "reindex": [],
    "replay": [
        "scenario",
        "--report",
        "--rpc",
        "--db",
        "--speed",
        "--seed",
        "--audit",
        "--no-audit",
        "--netting",
        "--no-netting",
        "--check",
        "--serve",
        "--host",
        "--port",
    ],
    "serve": ["--host", "--port", "--workers", "--worker", "--no-worker"],
    "sim": [],
    "sim stations": [
        "--url",
        "--count",
        "--protocol",
        "--evses",
        "--password",
        "--speed",
        "--duration-s",
        "--meter-interval-s",
        "--seed",
        "--sign",
        "--no-sign",
    ],
    "uftp": [],
    "uftp serve": ["--config", "--host", "--port", "--poll-s", "--check"],
    "worker": ["--once", "--index", "--no-index"],
}


def _command_tree(command: Any, path: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every leaf command and group below ``command``, keyed by its space-separated path."""
    tree: dict[str, list[str]] = {}
    if path:
        tree[" ".join(path)] = [
            decl for param in command.params for decl in (*param.opts, *param.secondary_opts)
        ]
    for name, sub in getattr(command, "commands", {}).items():
        tree.update(_command_tree(sub, (*path, name)))
    return tree


def test_command_tree_is_pinned() -> None:
    assert _command_tree(typer.main.get_command(app)) == EXPECTED_COMMANDS


def test_every_command_has_help() -> None:
    root = typer.main.get_command(app)
    for path in EXPECTED_COMMANDS:
        command: Any = root
        for name in path.split():
            command = command.commands[name]
        assert command.help, f"flexmarket {path} has no help text"
