"""``flexmarket bench clearing``: argument parsing only; the work is clearing.benchmark.

Registered in market/commands/bench.py.
"""

from __future__ import annotations

import json

import typer


def _parse_seeds(spec: str) -> list[int]:
    """``1-10`` or ``1,4,7`` or a mix (``1-3,9``), in the order given."""
    seeds: list[int] = []
    try:
        for part in spec.split(","):
            lo, sep, hi = part.strip().partition("-")
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError as exc:
        raise typer.BadParameter(f"{spec!r}: expected e.g. 1-10 or 1,4,7") from exc
    if not seeds:
        raise typer.BadParameter(f"{spec!r} names no seed")
    return seeds


def bench_clearing(
    offers: int = typer.Option(..., "--offers", min=1, help="Number of offers to generate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic session."),
    seeds: str | None = typer.Option(
        None,
        "--seeds",
        help="Several seeds (1-10, 1,4,7): one JSON line each, then a summary line.",
    ),
    skip_cbc: bool = typer.Option(False, "--skip-cbc", help="Do not run CBC."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (default)."),
    time_limit: int | None = typer.Option(
        None,
        "--time-limit",
        min=1,
        help="Wall-clock safety net in s (default 600, any size); HiGHS stops on work limits.",
    ),
    cbc_time_limit: int = typer.Option(
        60, "--cbc-time-limit", min=1, help="CBC's limit when chasing HiGHS' gap (s)."
    ),
) -> None:
    """Clear seeded synthetic sessions with HiGHS, CBC and greedy; print metrics as JSON."""
    from clearing.benchmark import run_clearing_benchmark, run_clearing_seeds

    def progress(message: str) -> None:
        typer.echo(message, err=True)

    if seeds is not None:
        summary = run_clearing_seeds(
            offers,
            _parse_seeds(seeds),
            skip_cbc=skip_cbc,
            time_limit_s=time_limit,
            cbc_time_limit_s=cbc_time_limit,
            progress=progress,
            emit=lambda line: typer.echo(json.dumps(line, sort_keys=True)),
        )
        typer.echo(json.dumps(summary, sort_keys=True))
        return
    result = run_clearing_benchmark(
        offers,
        seed,
        skip_cbc=skip_cbc,
        time_limit_s=time_limit,
        cbc_time_limit_s=cbc_time_limit,
        progress=progress,
    )
    typer.echo(json.dumps(result, sort_keys=True) if as_json else json.dumps(result, indent=2))
