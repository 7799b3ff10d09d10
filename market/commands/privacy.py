"""The ``flexmarket privacy`` group: an EV user's right to erasure at the FSP gateway.

Parsing only: the erasure is :mod:`market.fsp.erasure`. The market's own store needs no
erasure: it never receives an EV user's id, name or preferences (readings are keyed by
station and EVSE, revenue-sharing payees by a pseudonymous address per user and FSP).
"""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path

import typer

from market.commands.fsp import _load

app = typer.Typer(
    help="EV users' personal data at the FSP gateway: erase it on request (GDPR art. 17).",
    no_args_is_help=True,
)

EXIT_UNKNOWN_USER = 2


@app.command("erase")
def erase(
    user: str = typer.Argument(..., help="The EV user id (a key of ev_users in fsp.yaml)."),
    config: Path = typer.Option(..., "--config", help="The FSP gateway's fsp.yaml."),
    by: str | None = typer.Option(
        None, "--by", help="Who erases (recorded with the time; default: the OS user)."
    ),
) -> None:
    """Remove USER's personal data from the gateway's store (token, preferences, consent,
    itemised statements and their files, charging needs), keep the statements' totals under
    a pseudonym for the accounts, record the erasure (no personal data) and print a JSON
    summary. Erasing again changes nothing and says ``already_erased``. Exit 0 done, 1 bad
    config, 2 unknown user."""
    cfg = _load(config)
    from market.fsp.erasure import Evse, UnknownUser, erase_user
    from market.fsp.ev_store import EvUserStore
    from market.fsp.store import GatewayStore

    gw = GatewayStore(cfg.database_url(config))
    EvUserStore(gw.engine, now=time.time)  # its tables (and any legacy consent migrated)
    known = cfg.ev_users.get(user)
    try:
        summary = erase_user(
            gw.engine,
            user,
            evse=None if known is None else Evse(known.station, known.evse_id),
            statements_dir=cfg.statements_path(config),
            by=by or getpass.getuser(),
            now=int(time.time()),
        )
    except UnknownUser as exc:
        typer.echo(f"error: USER: {exc}", err=True)
        raise typer.Exit(EXIT_UNKNOWN_USER) from None
    finally:
        gw.engine.dispose()
    typer.echo(json.dumps(summary, indent=2, sort_keys=True))
