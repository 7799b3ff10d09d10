"""The ``flexmarket dso`` group: the DSO gateway (``dso run --config dso.yaml``).

Parsing only: the config is ``market.dso.config``, the loop ``market.dso.gateway``. A bad
config or a refused connection is one line on stderr naming the field, exit code 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer

from market.dso.config import DsoConfigError, load_config
from market.participant.errors import ParticipantError

app = typer.Typer(
    help="Run the DSO gateway: forecast each coming session on the grid, escrow and post "
    "requests, follow the results.",
    no_args_is_help=True,
)


def _fail(field: str, reason: str) -> NoReturn:
    typer.echo(f"error: {field}: {reason}", err=True)
    raise typer.Exit(1)


@app.command("run")
def run(
    config: Path = typer.Option(..., "--config", help="The gateway's dso.yaml."),
    check: bool = typer.Option(
        False, "--check", help="Validate the config and load the grid, then exit."
    ),
    once: bool = typer.Option(
        False, "--once", help="One pass (request in open sessions, log results), then exit."
    ),
) -> None:
    """Long-running DSO gateway: opens its intraday sessions when configured, requests
    flexibility in every open session it has not requested in yet (escrowing the budget),
    follows the market's events and writes its statements once a session is FINAL; JSON-line
    logs on stdout."""
    from market.dso.grid import load_dso_grid

    try:
        cfg = load_config(config)
        grid = load_dso_grid(cfg)
    except DsoConfigError as exc:
        _fail(exc.field, exc.reason)
    if check:
        typer.echo(f"ok: {config} ({len(grid.points)} congestion points on {grid.model.name})")
        return
    key = os.environ.get(cfg.key_env, "").strip()
    if not key:
        _fail("key_env", f"environment variable {cfg.key_env} is not set")
    from market.dso.gateway import DsoGateway
    from market.participant.connect import connect

    try:
        participant = connect(cfg.api_url.rstrip("/"), key, rpc_url=cfg.rpc_url)
        gateway = DsoGateway(participant, cfg, grid)
        if cfg.clock == "chain":  # a warped chain's time (flexmarket live)
            from adapters.clock import ChainTimeClock

            gateway.now = ChainTimeClock(cfg.rpc_url).now
        if once:
            gateway.run_once()
        else:
            gateway.run_forever()
    except ParticipantError as exc:
        _fail(exc.field, exc.reason)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
