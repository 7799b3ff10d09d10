"""``flexmarket replay SCENARIO``: argument parsing and the progress display only.

Registered in market/cli.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from market.replay.context import ProgressFn, ReplayOptions


def replay(
    scenario: Path = typer.Argument(..., help="Scenario YAML (see scripts/scenarios/)."),
    report: Path = typer.Option(
        None, "--report", help="Output folder (default reports/<scenario name>)."
    ),
    rpc: str = typer.Option(
        None, "--rpc", help="Use this anvil-compatible dev chain instead of starting one."
    ),
    db: str = typer.Option(None, "--db", help="Database URL (default SQLite in --report)."),
    speed: float = typer.Option(
        0.0, "--speed", min=0.0, help="Pace simulated time at X x wall time (0: flat out)."
    ),
    seed: int = typer.Option(None, "--seed", help="Override the scenario's seed."),
    audit: bool = typer.Option(True, "--audit/--no-audit", help="Run the auditor at the end."),
    netting: bool = typer.Option(
        False,
        "--netting/--no-netting",
        help="Net the contracts' revenue sharing on-chain (the clearing house's "
        "settleNetting); without it the report shows the same period computed off-chain.",
    ),
    check: bool = typer.Option(
        False, "--check", help="Only validate the scenario (and its grid), then exit."
    ),
) -> None:
    """Replay a market scenario end to end and write report.json / report.html."""
    from rich.console import Console

    from market.replay.grid import check_scenario
    from market.replay.scenario import ScenarioError

    err = Console(stderr=True, soft_wrap=True)  # one line per message, never wrapped
    try:
        sc, _grid = check_scenario(scenario)
        if check:
            typer.echo(f"{scenario}: ok")
            return
    except ScenarioError as exc:
        err.print(f"[red]{exc}[/red]", markup=True, highlight=False)
        raise typer.Exit(2) from None
    from market.replay.runner import ReplayError, ReplayOptions, run_replay

    out = report or Path("reports") / sc.name
    options = ReplayOptions(
        report_dir=out,
        rpc_url=rpc,
        db_url=db,
        speed=speed,
        seed=seed,
        audit=audit,
        netting=netting,
    )
    try:
        result = _run_with_progress(err, scenario, options, run_replay)
    except ScenarioError as exc:
        err.print(f"[red]{exc}[/red]", markup=True, highlight=False)
        raise typer.Exit(2) from None
    except ReplayError as exc:
        err.print(f"replay failed: {exc}", markup=False, highlight=False)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        err.print(f"interrupted; see {out / 'interrupted.json'}")
        raise typer.Exit(130) from None
    total = result["total"]
    audit_info = result.get("audit", {})
    summary = {
        "report": str(out / "report.json"),
        "html": str(out / "report.html"),
        "total": total,
        "audit": "pass"
        if audit_info.get("passed")
        else ("not available" if not audit_info.get("available") else "FINDINGS"),
        "wall_s": result["timing"]["total_wall_s"],
    }
    typer.echo(json.dumps(summary, indent=2, sort_keys=True))
    if total.get("soc_violations_unexplained") or audit_info.get("passed") is False:
        raise typer.Exit(1)


def _run_with_progress(
    err: Console,
    scenario: Path,
    options: ReplayOptions,
    run_replay: Callable[[Path, ReplayOptions, ProgressFn], dict[str, Any]],
) -> dict[str, Any]:
    """Run the replay with one progress bar per (session, phase), drawn on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as progress:
        tasks: dict[tuple[str, str], TaskID] = {}

        def update(session: str, phase: str, done: int, total: int) -> None:
            key = (session, phase)
            if key not in tasks:
                tasks[key] = progress.add_task(f"{session}: {phase}", total=max(total, 1))
            progress.update(tasks[key], completed=done, total=max(total, 1))

        return run_replay(scenario, options, update)
