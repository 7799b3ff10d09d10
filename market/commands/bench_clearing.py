"""``flexmarket bench clearing``: argument parsing only; the work is clearing.benchmark.

Registered in market/commands/bench.py.
"""

from __future__ import annotations

import json

import typer


def bench_clearing(
    offers: int = typer.Option(..., "--offers", min=1, help="Number of offers to generate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic session."),
    skip_cbc: bool = typer.Option(False, "--skip-cbc", help="Do not run CBC."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (default)."),
    time_limit: int | None = typer.Option(
        None, "--time-limit", min=1, help="Solver time limit in s (default: 8, or 100 > 20k)."
    ),
    cbc_time_limit: int = typer.Option(
        60, "--cbc-time-limit", min=1, help="CBC's limit when chasing HiGHS' gap (s)."
    ),
) -> None:
    """Clear a seeded synthetic session with HiGHS, CBC and greedy; print metrics as JSON."""
    from clearing.benchmark import run_clearing_benchmark

    result = run_clearing_benchmark(
        offers,
        seed,
        skip_cbc=skip_cbc,
        time_limit_s=time_limit,
        cbc_time_limit_s=cbc_time_limit,
        progress=lambda m: typer.echo(m, err=True),
    )
    typer.echo(json.dumps(result, sort_keys=True) if as_json else json.dumps(result, indent=2))
