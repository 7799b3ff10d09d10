"""The ``flexmarket fsp`` group: the FSP gateway (``fsp run --config fsp.yaml``) and the EV
users' tokens (``fsp token``).

Parsing only: the config is ``market.fsp.config``, the program ``market.fsp.gateway``. A bad
config or a refused connection is one line on stderr naming the field, exit code 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer

from market.fsp.config import FspConfigError, FspGatewayConfig, load_config
from market.participant.errors import ParticipantError

app = typer.Typer(
    help="Run the FSP gateway: a CSMS for the FSP's stations, the EV users' preferences API, "
    "and the market loop (bid, verify orders, dispatch, relay readings, withdraw).",
    no_args_is_help=True,
)


def _fail(field: str, reason: str) -> NoReturn:
    typer.echo(f"error: {field}: {reason}", err=True)
    raise typer.Exit(1)


def _load(config: Path) -> FspGatewayConfig:
    try:
        return load_config(config)
    except FspConfigError as exc:
        _fail(exc.field, exc.reason)


def _cpo_keys(cfg: FspGatewayConfig) -> dict[str, str]:
    """Station id -> its CPO's key, for the stations naming a ``cpo_key_env``."""
    keys: dict[str, str] = {}
    for sid, st in cfg.csms.stations.items():
        if st.cpo_key_env is not None:
            value = os.environ.get(st.cpo_key_env, "").strip()
            if not value:
                _fail(
                    f"csms.stations.{sid}.cpo_key_env",
                    f"environment variable {st.cpo_key_env} is not set",
                )
            keys[sid] = value
    return keys


def _secrets(cfg: FspGatewayConfig) -> tuple[str, dict[str, str]]:
    """The key and the station passwords from the environment; a missing one is named."""
    key = os.environ.get(cfg.key_env, "").strip()
    if not key:
        _fail("key_env", f"environment variable {cfg.key_env} is not set")
    passwords: dict[str, str] = {}
    for sid, st in cfg.csms.stations.items():
        if st.password is not None:
            passwords[sid] = st.password
            continue
        assert st.password_env is not None
        value = os.environ.get(st.password_env, "")
        if not value:
            _fail(
                f"csms.stations.{sid}.password_env",
                f"environment variable {st.password_env} is not set",
            )
        passwords[sid] = value
    return key, passwords


@app.command("run")
def run(
    config: Path = typer.Option(..., "--config", help="The gateway's fsp.yaml."),
    check: bool = typer.Option(False, "--check", help="Validate the config, then exit."),
    once: bool = typer.Option(
        False,
        "--once",
        help="Start, do one pass of the market loop (bid, orders, relay, withdraw), exit.",
    ),
) -> None:
    """Long-running FSP gateway: the CSMS, the EV-user API (with GET /status) and a loop that
    bids before gate closure, verifies and dispatches orders, relays the stations' signed
    readings and withdraws payouts; logs JSON lines."""
    cfg = _load(config)
    if check:
        n_evses = sum(len(s.evses) for s in cfg.csms.stations.values())
        typer.echo(
            f"ok: {config} ({len(cfg.csms.stations)} stations, {n_evses} EVSEs, "
            f"{len(cfg.ev_users)} EV users, clock {cfg.clock})"
        )
        return
    key, passwords = _secrets(cfg)
    from market.fsp.runner import run_gateway

    try:
        run_gateway(
            cfg,
            key=key,
            passwords=passwords,
            config_path=config,
            once=once,
            cpo_keys=_cpo_keys(cfg),
        )
    except ParticipantError as exc:
        _fail(exc.field, exc.reason)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command("token")
def token(
    config: Path = typer.Option(..., "--config", help="The gateway's fsp.yaml."),
    user: str = typer.Option(..., "--user", help="The EV user (a key of ev_users)."),
) -> None:
    """Issue a new API token for one EV user (printed once; only its hash is stored, and
    the user's previous token stops working)."""
    cfg = _load(config)
    if user not in cfg.ev_users:
        _fail("--user", f"{user!r} is not in ev_users of {config}")
    from market.fsp.store import GatewayStore

    store = GatewayStore(cfg.database_url(config))
    typer.echo(store.issue_token(user))
