"""``flexmarket bench fuzz``: argument parsing only; the work is market.fuzz."""

from __future__ import annotations

import json

import typer


def bench_fuzz(
    examples: int = typer.Option(
        25, "--examples", min=1, help="Generated cases per operation and role."
    ),
    seed: int = typer.Option(14, "--seed", help="Hypothesis seed (same seed, same run)."),
    steps: int = typer.Option(40, "--steps", min=1, help="Steps per money-path sequence."),
    db: str | None = typer.Option(
        None, "--db", help="Throwaway database URL (default: SQLite in a temporary directory)."
    ),
) -> None:
    """Fuzz a throwaway served market (anvil) as every role; print one JSON object.

    Exits 1 when any answer was a 5xx or the server stopped answering.
    """
    from market.fuzz.harness import served_market
    from market.fuzz.run import run_fuzz
    from market.fuzz.tally import FuzzTally

    tally = FuzzTally()
    with served_market(tally, db) as market:
        summary = run_fuzz(
            market.base_url,
            market.keys,
            now=market.clock.now,
            examples=examples,
            seed_value=seed,
            money_path_steps=steps,
            hooks=market.hooks,
            tally=tally,
        )
    typer.echo(json.dumps(summary, sort_keys=True))
    if summary["server_errors_5xx"] or summary["crashes"]:
        raise typer.Exit(1)
