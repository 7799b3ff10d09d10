"""The ``flexmarket`` command line: argument parsing only, every command calls library code.

Each command group is a Typer app in its own module under ``market/commands/``; top-level
commands are plain functions there. This module only assembles them, in the order
``flexmarket --help`` lists them.
"""

from __future__ import annotations

import signal
from typing import Any

import typer

from clearing.json_limits import restore_recursion_limit
from market.commands import (
    admin,
    arbiter,
    bench,
    chain,
    clearing_house,
    csms,
    db,
    dso,
    fsp,
    participant,
    participant_claim,
    participant_template,
    privacy,
    sim,
    uftp,
)
from market.commands.audit import audit
from market.commands.deploy import deploy
from market.commands.errors import debug_option, guarded
from market.commands.live import live
from market.commands.replay import replay
from market.commands.service import reindex, serve, worker_cmd


class FlexmarketApp(typer.Typer):
    """The root app: a failing command ends with one line on stderr (``--debug``: traceback).

    Wrapping ``__call__`` (not only ``main``) covers the ``flexmarket`` console script, which
    calls the app object itself.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return guarded(super().__call__, *args, **kwargs)


app = FlexmarketApp(
    name="flexmarket",
    help="Local flexibility marketplace and clearing house for the distribution grid.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.callback()(debug_option)
app.command("deploy")(deploy)
app.command("demo")(chain.demo)
app.add_typer(csms.app, name="csms")
app.command("serve")(serve)
app.command("worker")(worker_cmd)
app.command("reindex")(reindex)
app.command("replay")(replay)
app.command("live")(live)
app.command("audit")(audit)
app.add_typer(chain.app, name="chain")
app.add_typer(bench.app, name="bench")
app.add_typer(sim.app, name="sim")
app.add_typer(db.app, name="db")
app.add_typer(arbiter.app, name="arbiter")
app.add_typer(admin.app, name="admin")
app.add_typer(clearing_house.app, name="clearing")
participant_claim.register(participant.app)
participant_template.register(participant.app)
app.add_typer(participant.app, name="participant")
app.add_typer(dso.app, name="dso")
app.add_typer(fsp.app, name="fsp")
app.add_typer(privacy.app, name="privacy")
app.add_typer(uftp.app, name="uftp")

# The Ethereum stack (py_ecc) raised the recursion limit to 100 000 while importing; with it,
# deeply nested JSON overflows the C stack instead of raising. Back to the safe default.
restore_recursion_limit()


def main() -> None:
    """Entry point of the ``flexmarket`` script."""
    # Ctrl-C (SIGINT) stops every command, also when it was started from a shell's background
    # job, which inherits SIGINT ignored: Python then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    app()


if __name__ == "__main__":
    main()
