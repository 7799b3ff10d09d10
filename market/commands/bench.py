"""The ``flexmarket bench`` group: benchmarks, each printing one JSON object.

The commands live next to the code they exercise; this module only lists them, in the order
``flexmarket bench --help`` shows them.
"""

from __future__ import annotations

import typer

from market.commands.audit import bench_audit
from market.commands.bench_clearing import bench_clearing
from market.commands.bench_fuzz import bench_fuzz
from market.commands.chain import bench_gas
from market.commands.live import bench_intraday, bench_live
from market.commands.ocpp import bench_ocpp
from market.commands.service import bench_api

app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)
app.command("gas")(bench_gas)
app.command("clearing")(bench_clearing)
app.command("ocpp")(bench_ocpp)
app.command("api")(bench_api)
app.command("audit")(bench_audit)
app.command("fuzz")(bench_fuzz)
app.command("live")(bench_live)
app.command("intraday")(bench_intraday)
