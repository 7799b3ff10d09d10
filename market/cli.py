"""The ``flexmarket`` command line: argument parsing only, every command calls library code.

Each command group lives in its own module under ``market/commands/`` and registers itself on
one of the Typer apps below, so groups can grow without touching each other.
"""

from __future__ import annotations

import importlib

import typer

from clearing.json_limits import restore_recursion_limit

app = typer.Typer(
    name="flexmarket",
    help="Local flexibility marketplace and clearing house for the distribution grid.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
chain_app = typer.Typer(help="Local EVM chain (anvil) management.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)
sim_app = typer.Typer(help="Simulators (OCPP stations).", no_args_is_help=True)
app.add_typer(chain_app, name="chain")
app.add_typer(bench_app, name="bench")
app.add_typer(sim_app, name="sim")

# Modules that register commands on the apps above. Each defines ``register(...)``.
_COMMAND_MODULES = (
    "market.commands.chain",
    "market.commands.bench_clearing",
    "market.commands.ocpp",
    "market.commands.service",
    "market.commands.replay",
    "market.commands.audit",
)

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a group not built yet must not break the others
        if exc.name != _name:
            raise
        continue
    _module.register(app=app, chain_app=chain_app, bench_app=bench_app, sim_app=sim_app)
bench_app.command("fuzz")(importlib.import_module("market.commands.bench_fuzz").bench_fuzz)

# The Ethereum stack (py_ecc) raised the recursion limit to 100 000 while importing; with it,
# deeply nested JSON overflows the C stack instead of raising. Back to the safe default.
restore_recursion_limit()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
