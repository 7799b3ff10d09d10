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
        True,
        "--netting/--no-netting",
        help="Net each session on-chain (the clearing house's settleNetting: revenue "
        "sharing and uncovered penalties, what a payer cannot cover carried forward as an "
        "on-chain receivable); --no-netting shows the same period computed off-chain only.",
    ),
    check: bool = typer.Option(
        False, "--check", help="Only validate the scenario (and its grid), then exit."
    ),
    serve: bool = typer.Option(
        False,
        "--serve",
        help="Afterwards keep the chain and the market (with its web pages) running and print "
        "the URL, until Ctrl-C.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="With --serve: address to bind."),
    port: int = typer.Option(
        8000, "--port", min=0, max=65535, help="With --serve: port (0: any free port)."
    ),
) -> None:
    """Replay a market scenario end to end and write report.json / report.html."""
    from rich.console import Console

    from market.replay.grid import check_scenario
    from market.replay.history import baseline_warnings
    from market.replay.scenario import ScenarioError

    err = Console(stderr=True, soft_wrap=True)  # one line per message, never wrapped
    try:
        sc, _grid = check_scenario(scenario)
        for w in baseline_warnings(sc):
            err.print(f"warning: {w.path}: {w.reason}", markup=False, highlight=False)
        if check:
            typer.echo(f"{scenario}: ok")
            return
    except ScenarioError as exc:
        err.print(f"[red]{exc}[/red]", markup=True, highlight=False)
        raise typer.Exit(2) from None
    out = report or Path("reports") / sc.name
    anvil = None
    if serve and rpc is None:
        from market.replay.serve import start_anvil

        anvil = start_anvil(sc, out)  # the chain must outlive the replay
        rpc = anvil.rpc_url
    try:
        code = _replay_and_report(err, scenario, out, rpc, db, speed, seed, audit, netting, serve,
                                  host, port)  # fmt: skip
    finally:
        if anvil is not None:
            anvil.stop()
    if code:
        raise typer.Exit(code)


def _replay_and_report(
    err: Console,
    scenario: Path,
    out: Path,
    rpc: str | None,
    db: str | None,
    speed: float,
    seed: int | None,
    audit: bool,
    netting: bool,
    serve: bool,
    host: str,
    port: int,
) -> int:
    """Run the replay, print its summary, serve it if asked; the exit code (0 or 1)."""
    from market.replay.runner import ReplayError, ReplayOptions, run_replay
    from market.replay.scenario import ScenarioError

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
    code = 1 if total.get("soc_violations_unexplained") or audit_info.get("passed") is False else 0
    if serve and rpc is not None:
        _serve(err, out, result, rpc, db, host, port)
    return code


def _serve(
    err: Console, out: Path, result: dict[str, Any], rpc: str, db: str | None, host: str, port: int
) -> None:
    """Serve the finished day until Ctrl-C (or SIGTERM)."""
    import signal
    import threading

    from market.replay.api_server import serve_market_api
    from market.replay.serve import finished_runtime

    runtime = finished_runtime(out, result, rpc, db)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with serve_market_api(runtime, host=host, port=port) as url:
            err.print(
                f"serving the finished day at {url}/ (DSO {url}/dso, auditor {url}/auditor, "
                f"API {url}/docs); chain {rpc}; Ctrl-C stops both",
                markup=False,
                highlight=False,
            )
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        runtime.engine.dispose()


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
