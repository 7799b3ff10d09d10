"""The ``flexmarket uftp`` group: the Shapeshifter UFTP gateway (``uftp serve``).

Parsing only: the config is ``market.uftp.config``, the gateway ``market.uftp.gateway`` and its
start-up ``market.uftp.serve``. A bad config, a missing key or a peer that is not onboarded is
one line on stderr naming the field, exit code 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import typer

from market.uftp.config import UftpConfigError, load_config

app = typer.Typer(
    help="Serve Shapeshifter UFTP: UFTP aggregators and DSOs trade in the market with their "
    "own UFTP stacks and keys.",
    no_args_is_help=True,
)


def _fail(field: str, reason: str) -> NoReturn:
    typer.echo(f"error: {field}: {reason}", err=True)
    raise typer.Exit(1)


@app.command("serve")
def serve(
    config: Path = typer.Option(..., "--config", help="The gateway's uftp.yaml."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8090, "--port", help="Port of the UFTP endpoint."),
    poll_s: float = typer.Option(
        5.0,
        "--poll-s",
        min=0.1,
        help="Seconds between outbound passes (requests, orders, settlements to the peers).",
    ),
    check: bool = typer.Option(
        False, "--check", help="Validate the config, keys and peers' onboarding, then exit."
    ),
) -> None:
    """Long-running UFTP endpoint (POST /shapeshifter/api/v3/message): flexmarket is the DSO
    towards UFTP aggregators and the aggregator towards UFTP DSOs."""
    from market.uftp.serve import build_gateway
    from market.uftp.serve import serve as run

    try:
        cfg = load_config(config)
        gateway = build_gateway(cfg, os.environ)
    except UftpConfigError as exc:
        _fail(exc.field, exc.reason)
    if check:
        gateway.ctx.journal.close()
        typer.echo(f"ok: {config} ({len(cfg.peers)} peers)")
        return
    try:
        run(gateway, host=host, port=port, poll_s=poll_s)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
