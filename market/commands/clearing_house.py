"""The ``flexmarket clearing`` group: netting with the CLEARING_HOUSE key; parsing only.

The module is not called ``clearing.py`` so that it is never mistaken for the ``clearing``
package.
"""

from __future__ import annotations

import json

import typer

from market.commands.settlement import settle_command
from market.settings import Settings

app = typer.Typer(help="Clearing house (CLEARING_HOUSE key).", no_args_is_help=True)


@app.command("settle")
def clearing_settle(session_id: str = typer.Argument(..., help="Session UUID.")) -> None:
    """Net a FINAL session (market payouts + revenue sharing) with settleNetting."""
    typer.echo(json.dumps(settle_command(Settings(), session_id), indent=2))
