"""``flexmarket live SCENARIO``: argument parsing and progress lines only (the run is
``market.live.orchestrator``). Registered in market/cli.py."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import typer


def live(
    scenario: Path = typer.Argument(..., help="Scenario YAML (see scripts/scenarios/)."),
    report: Path = typer.Option(
        None, "--report", help="Output folder (default reports/live-<scenario name>)."
    ),
    seed: int = typer.Option(None, "--seed", help="Override the scenario's seed."),
    audit: bool = typer.Option(True, "--audit/--no-audit", help="Run the auditor at the end."),
) -> None:
    """Run a scenario with each role as its own OS process (anvil, market, DSO gateway, FSP
    gateways, stations), on the chain's warped clock, then audit the kept chain. Writes
    processes.json, logs/<role>.log, report.json and chain-state.json in --report."""
    from market.live.orchestrator import LiveOptions, run_live
    from market.live.procs import LiveError
    from market.replay.grid import check_scenario
    from market.replay.scenario import ScenarioError

    def progress(line: str) -> None:
        print(f"live: {line}", file=sys.stderr, flush=True)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # the children are stopped on the way out
    try:
        sc, _ = check_scenario(scenario)
        out = report or Path("reports") / f"live-{sc.name}"
        result = run_live(scenario, LiveOptions(report_dir=out, seed=seed, audit=audit), progress)
    except ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except LiveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: every role was stopped", err=True)
        raise typer.Exit(130) from None
    audit_info = result.get("audit", {})
    summary = {
        "report": str(out / "report.json"),
        "processes": result["processes"],
        "total": result["total"],
        "audit": "pass" if audit_info.get("passed") else ("skipped" if not audit else "FINDINGS"),
        "wall_s": result["wall_s"],
    }
    typer.echo(json.dumps(summary, indent=2, sort_keys=True))
    if audit and not audit_info.get("passed"):
        raise typer.Exit(1)


def bench_live(
    fsps: int = typer.Option(5, "--fsps", min=1, max=50, help="FSP gateways (processes)."),
    stations: int = typer.Option(
        200, "--stations", min=1, max=2000, help="Simulated stations, one EV each."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic scenario."),
    report: Path = typer.Option(
        None, "--report", help="Output folder (default reports/bench-live)."
    ),
) -> None:
    """Dispatch latency across processes: from the orders being posted to every station
    having its charging profile (p50/p99 wall seconds; goal p99 <= 5 s). Prints one JSON
    object."""
    from market.live import bench

    out = report or Path("reports") / "bench-live"
    _run_bench("live", bench.bench_scenario(fsps, stations, seed), out, 0)


def _run_bench(name: str, doc: dict[str, Any], out: Path, offers: int) -> None:
    """Write the bench's scenario into ``out``, run it live, print its JSON; exit 1 naming
    the shortfall, 3 when a role failed."""
    from market.live import bench
    from market.live.orchestrator import LiveOptions, run_live
    from market.live.procs import LiveError

    path = bench.write_scenario(out, doc)

    def progress(line: str) -> None:
        print(f"bench {name}: {line}", file=sys.stderr, flush=True)

    options = LiveOptions(report_dir=out, bench=name, bench_offers=offers)
    try:
        result = run_live(path, options, progress)
    except LiveError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    typer.echo(json.dumps(result, sort_keys=True))
    if result.get("failure"):
        typer.echo(f"error: bench {name}: {result['failure']}; see {out / 'logs'}", err=True)
        raise typer.Exit(1)


def bench_intraday(
    offers: int = typer.Option(
        1000, "--offers", min=1, max=20_000, help="Offers in the session (about)."
    ),
    fsps: int = typer.Option(5, "--fsps", min=1, max=50, help="FSP gateways (processes)."),
    stations: int = typer.Option(
        50, "--stations", min=1, max=2000, help="Simulated stations, one EV each."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic scenario."),
    report: Path = typer.Option(
        None, "--report", help="Output folder (default reports/bench-intraday)."
    ),
) -> None:
    """Intraday clearing across processes: from gate closure (15 min before delivery) to
    every FSP gateway holding its verified orders, with --offers offers (p50/p99/max wall
    seconds over the gateways, and the phases: close, clearing, commit, order delivery;
    goal max <= 10 s). Prints one JSON object; exits 1 if the goal is missed or an order is
    missing."""
    from market.live import bench_intraday

    out = report or Path("reports") / "bench-intraday"
    _run_bench("intraday", bench_intraday.scenario(fsps, stations, offers, seed), out, offers)
