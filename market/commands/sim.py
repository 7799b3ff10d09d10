"""The ``flexmarket sim`` group: simulators that run against a live service or CSMS."""

from __future__ import annotations

import typer

from market.commands.ocpp import sim_stations

app = typer.Typer(help="Simulators (OCPP stations).", no_args_is_help=True)
app.command("stations")(sim_stations)
