"""The ``flexmarket arbiter`` group: dispute resolution with the ARBITER key; parsing only."""

from __future__ import annotations

import json

import typer

from market.commands.settlement import resolve_command
from market.settings import Settings

app = typer.Typer(help="Dispute resolution (ARBITER key).", no_args_is_help=True)


@app.command("resolve")
def arbiter_resolve(session_id: str = typer.Argument(..., help="Session UUID.")) -> None:
    """Recompute a DISPUTED session with the posted evidence and resolve it on-chain."""
    typer.echo(json.dumps(resolve_command(Settings(), session_id), indent=2))
