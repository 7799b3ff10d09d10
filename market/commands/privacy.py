"""The ``flexmarket privacy`` group: an EV user's right to erasure at the FSP gateway.

Parsing only: the erasure is :mod:`market.fsp.erasure`. The market's own store never
receives an EV user's id, name or preferences (readings are keyed by station and EVSE,
revenue-sharing payees by a pseudonymous address per user and FSP); a market that runs the
stations' CSMS does keep their charging needs (departure times), which ``--market-db`` erases
for the user's EVSE.
"""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path

import typer

from market.commands.fsp import _fail, _load

app = typer.Typer(
    help="EV users' personal data at the FSP gateway: erase it on request (GDPR art. 17).",
    no_args_is_help=True,
)

EXIT_UNKNOWN_USER = 2


@app.command("erase")
def erase(
    user: str = typer.Argument(..., help="The EV user id (a key of ev_users in fsp.yaml)."),
    config: Path = typer.Option(..., "--config", help="The FSP gateway's fsp.yaml."),
    market_db: str | None = typer.Option(
        None,
        "--market-db",
        help="Also erase the charging needs of the user's EVSE from the market's store "
        "(when the market runs the stations' CSMS).",
    ),
    by: str | None = typer.Option(
        None, "--by", help="Who erases (recorded with the time; default: the OS user)."
    ),
) -> None:
    """Remove USER's personal data from the gateway's store (token, preferences, consent,
    itemised statements and their files, charging needs; with --market-db also the
    market's copy of their EVSE's charging needs), keep the statements' totals under
    a pseudonym for the accounts, record the erasure (no personal data) and print a JSON
    summary. Erasing again changes nothing and says ``already_erased``. Exit 0 done, 1 bad
    config, 2 unknown user."""
    cfg = _load(config)
    from market.fsp.erasure import Evse, UnknownUser, erase_user
    from market.fsp.ev_store import EvUserStore
    from market.fsp.store import GatewayStore

    known = cfg.ev_users.get(user)
    if market_db is not None and known is None:
        _fail("--market-db", f"{user!r} has no EVSE in ev_users of {config} to erase by")
    gw = GatewayStore(cfg.database_url(config))
    EvUserStore(gw.engine, now=time.time)  # its tables (and any legacy consent migrated)
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
    if market_db is not None and known is not None:
        from market.fsp.erasure import erase_market_charging_needs
        from market.store.db import make_engine

        engine = make_engine(market_db, pool_size=1)
        try:
            erased = erase_market_charging_needs(engine, Evse(known.station, known.evse_id))
        finally:
            engine.dispose()
        summary["removed"]["market_charging_needs"] = erased
    typer.echo(json.dumps(summary, indent=2, sort_keys=True))
