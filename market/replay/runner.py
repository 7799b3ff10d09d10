"""Run a scenario end to end: chain, market service over loopback HTTP, agents, CSMS and
simulated stations over loopback websockets, verification, payment, report and audit.

Time: the chain is the market's clock (``ChainClock``) and is warped with anvil's time RPCs
between phases; the CSMS and the stations run on a :class:`StepClock` that the replay moves in
meter-interval steps through delivery, and the chain follows it ISP by ISP. Nothing depends on
how fast the machine is, so two runs of a scenario give the same readings, bundles and roots.

Phases per session: open (prognoses, requests, offers, commitments) -> gate closure (close,
clear) -> dispatch (FSPs fetch orders, disaggregate, OCPP profiles) -> delivery (metering) ->
verify (after the meter grace: delivery bundle + attestation) -> final (after the challenge
window: finalize, withdrawals).

The driver lives here; the shared state is in ``context``, setup in ``registration`` and
``api_server``, the phases in ``bidding``, ``dispatch``, ``delivery`` and ``settlement``, and
the session loop in ``sessions``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.chain.anvil import AnvilControl, AnvilError, AnvilNode
from clearing.solvers.highs_api import pin_highs_threads
from market.audit.kept_chain import CHAIN_STATE_FILE, DEPLOYMENT_FILE, keep_chain
from market.client import MarketClient
from market.lifecycle.worker import Worker
from market.replay.api_server import serve_market_api
from market.replay.chain import ReplayChain, gas_by_kind, setup_chain, start_replay_anvil
from market.replay.context import (
    PHASES,
    ProgressFn,
    ReplayContext,
    ReplayError,
    ReplayOptions,
)
from market.replay.cpo import CpoReadings
from market.replay.delivery import stop_stations
from market.replay.derive import derived_key, derived_secret
from market.replay.grid import check_scenario
from market.replay.history import baseline_warnings
from market.replay.phase_meter import PhaseMeter, process_peak_rss_mb
from market.replay.registration import register_participants
from market.replay.report_evidence import collect_extras
from market.replay.sessions import run_sessions
from market.replay.world import onchain_role, settlement_rules, stays
from market.runtime import ChainClock, attach_settlement, build_runtime
from market.settings import Settings


def _reset_report_dir(report_dir: Path) -> None:
    """A run starts from a clean folder: old store, bundles and outputs are removed."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for name in ("market.db", "market.db-wal", "market.db-shm", CHAIN_STATE_FILE, DEPLOYMENT_FILE):
        (report_dir / name).unlink(missing_ok=True)
    for name in ("bundles",):
        shutil.rmtree(report_dir / name, ignore_errors=True)
    for name in ("report.json", "report.html", "timing.json", "interrupted.json"):
        (report_dir / name).unlink(missing_ok=True)


def _interrupt_guard() -> Callable[[], None]:
    """Turn SIGTERM into KeyboardInterrupt so both leave the same consistent state."""

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread (e.g. under a test runner thread)
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def run_replay(
    scenario_path: str | Path,
    options: ReplayOptions,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run the scenario; write report.json, report.html and the bundles; return the report."""
    from market.replay.outcome import build_report, write_html, write_json

    wall0 = time.perf_counter()
    meter = PhaseMeter()
    setup_mark = meter.mark()
    progress = progress or (lambda *_: None)
    scenario, grid = check_scenario(scenario_path)
    if options.seed is not None:
        scenario = scenario.model_copy(update={"seed": options.seed})
    pin_highs_threads()  # this thread runs the auditor's recomputation
    timing: dict[str, Any] = {"load_s": round(time.perf_counter() - wall0, 3)}
    report_dir = options.report_dir
    _reset_report_dir(report_dir)
    restore_signals = _interrupt_guard()
    first_gate = min(scenario.at(s.gate_closure) for s in scenario.sessions)
    anvil: AnvilNode | None = None
    ctx: ReplayContext | None = None
    try:
        if options.rpc_url:
            control: AnvilControl = AnvilControl(rpc_url=options.rpc_url)
        else:
            anvil = start_replay_anvil(first_gate, report_dir)
            control = anvil
        chain_now = control.block_timestamp()
        if chain_now >= first_gate - 3600:
            raise ReplayError(
                f"--rpc: chain time {chain_now} is not before the first gate closure "
                f"{first_gate} - 1 h; start anvil with --timestamp {first_gate - 7200}"
            )
        participants = [(p.id, onchain_role(p.role)) for p in scenario.participants]
        chain = setup_chain(control, seed=scenario.seed, participants=participants)
        settings = Settings(
            database_url=options.db_url or f"sqlite:///{report_dir.resolve()}/market.db",
            bundle_dir=report_dir / "bundles",
            role_cache_ttl_s=60.0,
            token_secret=derived_secret(scenario.seed, "api-token"),
            meter_grace_s=scenario.market.meter_grace_s,
            clock="chain",
            # the service's settlement steps, with the replay's derived keys and scenario rules
            oracle_key=derived_key(scenario.seed, "meter-oracle"),
            settlement_rules=settlement_rules(scenario).to_json_obj(),
            clearing_house_key=derived_key(scenario.seed, "operator") if options.netting else None,
            netting=options.netting,  # without --netting the report computes it off-chain
            fee_recipient=chain.operator.lower(),
            relay_commitments=True,  # the FSPs' commitments go on-chain in one relayed batch
        )
        runtime = build_runtime(settings, ledger=chain.ledger, clock=ChainClock(chain.ledger))
        worker = Worker(
            engine=runtime.engine,
            ledger=chain.ledger,
            bundles=runtime.bundles,
            clock=runtime.core.clock,
            worker_id="replay",
            meter_grace_s=scenario.market.meter_grace_s,
            pricing_rule=scenario.market.pricing,
            # every station's CPO registered its key: attest only after their readings digests
            # (a scenario without stations has no meter behind an order: an empty bundle)
            readings_digests_required=True,
        )
        domain = (chain.ledger.chain_id, chain.ledger.market_address)
        cpos = CpoReadings(scenario, domain)
        attach_settlement(worker, settings, ledger=chain.ledger, digests=cpos.digests)
        timing["setup_chain_s"] = round(time.perf_counter() - wall0, 3)
        with serve_market_api(runtime) as base_url:
            now = runtime.core.clock.now
            clients = {
                pid: MarketClient(
                    base_url, derived_key(scenario.seed, pid), now=now, timeout_s=120.0
                )
                for pid in chain.addresses
            }
            ctx = ReplayContext(
                scenario=scenario,
                options=options,
                grid=grid,
                chain=chain,
                runtime=runtime,
                base_url=base_url,
                clients=clients,
                worker=worker,
                stays=stays(scenario),
                meter=meter,
                cpos=cpos,
            )
            chain.control.warp_to(first_gate - 2 * 3600 + 60)
            register_participants(ctx)
            timing["setup_s"] = round(time.perf_counter() - wall0, 3)
            meter.add("setup", setup_mark)

            async def main() -> None:
                try:
                    await run_sessions(ctx, progress)
                finally:
                    await stop_stations(ctx)

            asyncio.run(main())
            timing["replay_s"] = round(time.perf_counter() - wall0, 3)
            for client in clients.values():
                client.close()
        t_report = time.perf_counter()
        with meter.phase("report"):
            report, plots = build_report(ctx)
            report["gas"] = gas_by_kind(chain, 0)
        audit_full: dict[str, Any] | None = None
        if options.audit:
            with meter.phase("audit"):
                report["audit"], audit_full = _audit(chain, runtime.settings.bundle_dir)
        else:
            report["audit"] = {"available": False, "reason": "skipped (--no-audit)"}
        report_mark = meter.mark()
        report["chain_state"] = _keep_chain(chain, report_dir)
        warnings = [f"scenario {w.path}: {w.reason}" for w in baseline_warnings(scenario)]
        if warnings:  # e.g. an x_of_y baseline without history: why the orders paid 0
            report["findings"] = sorted([*report["findings"], *warnings])
        if report["audit"].get("passed") is False:
            report["findings"] = sorted(
                [*report["findings"], *(f"audit: {f}" for f in report["audit"]["findings"])]
            )
        write_html(report_dir, report, plots, collect_extras(ctx, audit_full))
        meter.add("report", report_mark)
        timing["report_s"] = round(time.perf_counter() - t_report, 3)
        timing["total_wall_s"] = round(time.perf_counter() - wall0, 3)
        timing["sessions"] = {r.spec.id: r.timing for r in ctx.runs}
        timing.update(meter.to_json())
        if anvil is not None and anvil.process is not None:  # still running: not in getrusage
            timing["anvil_peak_rss_mb"] = process_peak_rss_mb(anvil.process.pid)
        report["timing"] = timing
        write_json(report_dir, report)
        runtime.engine.dispose()
        return report
    except KeyboardInterrupt:
        _record_interrupt(report_dir, ctx, anvil)
        raise
    finally:
        restore_signals()
        if anvil is not None:
            anvil.stop()


def _record_interrupt(report_dir: Path, ctx: ReplayContext | None, anvil: AnvilNode | None) -> None:
    """On Ctrl-C: keep the chain state and say where the replay stopped."""
    note: dict[str, Any] = {"interrupted_in": ctx.phase if ctx else "setup"}
    if anvil is not None:
        try:
            if ctx is not None:  # deployed: keep it for `flexmarket audit --state` too
                keep_chain(anvil, ctx.chain.contracts.deployment, report_dir)
            else:
                anvil.dump_state(report_dir / CHAIN_STATE_FILE)
            note["anvil_state"] = CHAIN_STATE_FILE
        except Exception as exc:
            note["anvil_state_error"] = str(exc)
    note["database"] = "market.db (every committed step; the lifecycle table names the last one)"
    note["resume"] = (
        "not supported: a re-run with the same --report starts the scenario over from a clean "
        "folder; the files here are a consistent record of the interrupted run"
    )
    (report_dir / "interrupted.json").write_text(json.dumps(note, indent=2, sort_keys=True))


def _keep_chain(chain: ReplayChain, report_dir: Path) -> str:
    """Keep the chain beside the bundles (``flexmarket audit --state``); names the file kept,
    or why there is none (a ``--rpc`` node that is not anvil)."""
    try:
        keep_chain(chain.control, chain.contracts.deployment, report_dir)
    except AnvilError as exc:
        return f"not kept: {exc}"
    return CHAIN_STATE_FILE


def _audit(chain: ReplayChain, bundle_dir: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The summary for report.json, and the full per-check result for report.html."""
    try:
        from market.audit.runner import run_audit
    except ImportError as exc:
        return {"available": False, "reason": f"auditor not importable: {exc}"}, None
    report = run_audit(
        rpc=chain.rpc_url,
        market=chain.contracts.market.address,
        bundles=str(bundle_dir),
        from_block=0,
    )
    findings = sorted(f"{f.code} {f.subject}: {f.message}".strip() for f in report.findings)
    errors = sorted(report.errors)
    return {
        "available": True,
        "passed": report.exit_code == 0,
        "exit_code": report.exit_code,
        "sessions": len(report.sessions),
        "findings": findings,
        "errors": errors,
    }, report.to_json()


__all__ = [
    "PHASES",
    "ReplayError",
    "ReplayOptions",
    "run_replay",
]
