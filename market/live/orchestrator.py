"""``flexmarket live``: a scenario run with each role as its own OS process.

The processes: anvil; ``flexmarket serve`` and ``flexmarket worker`` (clock: chain); the DSO
gateway; one FSP gateway per FSP; one stations process per FSP (to that FSP's CSMS); after the
day, ``flexmarket audit`` against the kept chain and bundles. The chain set-up (deployment,
roles, funding), the keys and ids are the replay's (``market/replay``), so ``report.json``'s
settlement figures compare with the replay's. The orchestrator owns time (``phases``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters.chain.anvil import AnvilNode
from adapters.clock import ChainTimeClock
from adapters.ports import free_port
from market.api.schemas import CongestionPointCreate, ParticipantCreate
from market.audit.kept_chain import CHAIN_STATE_FILE, DEPLOYMENT_FILE, keep_chain
from market.client import ApiError, MarketClient
from market.live import configs, phases
from market.live.bids import StayWindow
from market.live.clearing import clearing_house_section, fsp_netting
from market.live.procs import LiveError, Supervisor, wait_until
from market.live.report import live_report
from market.participant.onchain import ChainAccount
from market.replay.chain import ReplayChain, setup_chain, start_replay_anvil
from market.replay.derive import derived_key, derived_secret
from market.replay.grid import ReplayGrid, check_scenario
from market.replay.scenario import Scenario, SessionSpec
from market.replay.world import onchain_role, settlement_rules, station_address, stays
from market.store.db import make_engine

Progress = Callable[[str], None]
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class LiveOptions:
    report_dir: Path
    seed: int | None = None
    audit: bool = True
    # "live": bench live (the first session up to dispatch, then latencies); "intraday":
    # bench intraday (the bench requests, no DSO gateway; gate closure to orders at gateways)
    bench: str = ""
    bench_offers: int = 0


def _reset(report_dir: Path) -> None:
    """A run starts from a clean folder (its own old outputs only)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for name in ("logs", "bundles", "dso-out", "fsp"):
        shutil.rmtree(report_dir / name, ignore_errors=True)
    for name in (
        "market.db",
        "market.db-wal",
        "market.db-shm",
        CHAIN_STATE_FILE,
        DEPLOYMENT_FILE,
        "report.json",
        "processes.json",
        "dso.yaml",
        "audit.json",
    ):
        (report_dir / name).unlink(missing_ok=True)


def _cli(*args: str) -> list[str]:
    """``flexmarket ARGS`` with this interpreter (and so this checkout's code)."""
    return [sys.executable, "-m", "market.cli", *args]


def _base_env() -> dict[str, str]:
    """The children's environment: ours without any FLEXMARKET_ setting (each role gets its
    own), with this checkout first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_")}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _market_env(sc: Scenario, chain: ReplayChain, report_dir: Path, port: int) -> dict[str, str]:
    """The market's settings (``serve`` and ``worker``), as the replay configures its
    in-process service; ``serve`` gets them without the meter oracle's key, which only the
    worker's verify step signs with."""
    return {
        "FLEXMARKET_RPC_URL": chain.rpc_url,
        "FLEXMARKET_DEPLOYMENT_FILE": str(report_dir / DEPLOYMENT_FILE),
        "FLEXMARKET_DATABASE_URL": f"sqlite:///{report_dir.resolve()}/market.db",
        "FLEXMARKET_BUNDLE_DIR": str(report_dir / "bundles"),
        "FLEXMARKET_OPERATOR_KEY": derived_key(sc.seed, "operator"),
        "FLEXMARKET_ORACLE_KEY": derived_key(sc.seed, "meter-oracle"),
        "FLEXMARKET_TOKEN_SECRET": derived_secret(sc.seed, "api-token"),
        "FLEXMARKET_CLOCK": "chain",
        "FLEXMARKET_METER_GRACE_S": str(sc.market.meter_grace_s),
        "FLEXMARKET_SETTLEMENT_RULES": json.dumps(settlement_rules(sc).to_json_obj()),
        "FLEXMARKET_FEE_RECIPIENT": chain.operator.lower(),
        # the clearing house nets every session, as the replay's (the operator's key)
        "FLEXMARKET_CLEARING_HOUSE_KEY": derived_key(sc.seed, "operator"),
        "FLEXMARKET_ROLE_CACHE_TTL_S": "60",
        "FLEXMARKET_WORKER_POLL_S": "0.2",
        "FLEXMARKET_DSO_SESSIONS": "true",
        # as the replay: the oracle attests after the stations' CPOs sent their digests
        "FLEXMARKET_READINGS_DIGESTS_REQUIRED": "true",  # no stations: the empty bundle
        "FLEXMARKET_HOST": "127.0.0.1",
        "FLEXMARKET_PORT": str(port),
    }


def _register(
    sc: Scenario, grid: ReplayGrid, api: str, report_dir: Path, chain: ReplayChain
) -> MarketClient:
    """What the replay's registration does before the gateways start, minus the FSPs' assets
    (each FSP gateway registers its own): names, congestion points, the station registry."""
    now = ChainTimeClock(chain.rpc_url).now  # the market's clock: sign with the chain's time
    op = MarketClient(api, derived_key(sc.seed, "operator"), timeout_s=120.0, now=now)
    op.register_participant(ParticipantCreate(name="Replay market operator"))
    with MarketClient(api, derived_key(sc.seed, "meter-oracle"), now=now) as oracle:
        oracle.register_participant(ParticipantCreate(name="Meter oracle"))
    for p in sorted(sc.participants, key=lambda p: p.id):
        if onchain_role(p.role):
            with MarketClient(api, derived_key(sc.seed, p.id), now=now) as client:
                client.register_participant(
                    ParticipantCreate(name=p.name, eic_code=p.eic[:32] if p.eic else None)
                )
    for cp in grid.points:
        op.create_congestion_point(
            CongestionPointCreate(code=cp.cp_id, name=cp.name[:200], parent_code=cp.parent_id)
        )
    # each station's CPO registers its meter key on-chain and grants the station to the FSP
    # whose EVs charge there (the replay's register_station_keys): the gateways' assets
    owners = {stay.station: stay.ev.fsp for stay in stays(sc)}
    market, token = chain.contracts.market, chain.contracts.token
    for st in sorted(sc.stations, key=lambda s: s.id):
        cpo = ChainAccount(market, token, chain.addresses[st.cpo])
        cpo.register_station(st.id, station_address(sc.seed, st.id))
        if st.id in owners:
            cpo.grant_station(st.id, chain.addresses[owners[st.id]])
    registry = [
        {
            "station_id": stay.station,
            "evse_id": stay.evse,
            "owner": chain.addresses[stay.ev.fsp].lower(),
            "congestion_point": grid.station_point[stay.station],
            "meter_public_key": station_address(sc.seed, stay.station),
        }
        for stay in stays(sc)
    ]
    bundle_dir = report_dir / "bundles"
    bundle_dir.mkdir(parents=True, exist_ok=True)
    (bundle_dir / "stations.json").write_text(json.dumps(registry, indent=1, sort_keys=True))
    op.sign_in()  # the operator reads offers before gate closure (the barrier's bids)
    return op


def run_live(scenario_path: str | Path, options: LiveOptions, progress: Progress) -> dict[str, Any]:
    """Run the scenario; write processes.json, logs/, the kept chain, report.json; return
    the report. Every child is stopped on the way out, whatever happens."""
    sc, grid = check_scenario(scenario_path)
    if options.seed is not None:
        sc = sc.model_copy(update={"seed": options.seed})
    if sc.market.pricing != "pay_as_bid":
        raise LiveError(
            f"market.pricing: live runs the service's worker, which clears pay_as_bid; "
            f"{sc.market.pricing!r} is replay-only for now"
        )
    report_dir = options.report_dir.resolve()
    _reset(report_dir)
    all_stays = stays(sc)
    owners = configs.station_owners(sc, all_stays)
    first_gate = min(sc.at(s.gate_closure) for s in sc.sessions)
    sup = Supervisor(report_dir)
    anvil: AnvilNode | None = None
    wall0 = time.monotonic()
    try:
        progress("anvil: starting, deploying the market (the replay's keys and roles)")
        anvil = start_replay_anvil(first_gate, report_dir)
        if anvil.pid is not None:
            sup.adopt("anvil", anvil.pid)
        roles = [(p.id, onchain_role(p.role)) for p in sc.participants]
        chain = setup_chain(anvil, seed=sc.seed, participants=roles)
        deployment = chain.contracts.deployment
        deployment.save(report_dir / DEPLOYMENT_FILE)
        anvil.warp_to(first_gate - 2 * 3600 + 60)
        base = _base_env()
        api_port = free_port()
        api = f"http://127.0.0.1:{api_port}"
        market_env = {**base, **_market_env(sc, chain, report_dir, api_port)}
        serve_env = {k: v for k, v in market_env.items() if k != "FLEXMARKET_ORACLE_KEY"}
        sup.start("market", _cli("serve"), serve_env)
        wait_until(
            "market: GET /health",
            lambda: httpx.get(f"{api}/health").status_code == 200,
            sup,
            timeout_s=START_TIMEOUT_S,
        )
        # the lifecycle worker in its own process (after serve migrated the store): in the
        # API's process it shared one GIL with every request at the moment a session closes
        sup.start("market-worker", _cli("worker"), market_env)
        progress(f"market: serving {api} (pid {sup.children['market'].proc.pid})")
        op = _register(sc, grid, api, report_dir, chain)
        dso_out = report_dir / "dso-out"
        fsps = configs.fsp_ids(sc)
        ports = configs.Ports(
            api=api_port,
            csms={f: free_port() for f in fsps},
            ev_api={f: free_port() for f in fsps},
        )
        requesters = [] if options.bench == "intraday" else configs.dso_ids(sc)[:1]
        for dso in requesters:  # one grid, one requester (as the replay)
            path = configs.write_yaml(
                report_dir / "dso.yaml",
                configs.dso_config(sc, grid, api_url=api, rpc_url=chain.rpc_url, out_dir=dso_out),
            )
            sup.start(
                "dso",
                _cli("dso", "run", "--config", str(path)),
                {**base, **configs.role_env(sc, dso)},
            )
        gateways: list[phases.Fsp] = []
        for fsp in fsps:
            mine = sorted(st for st, owner in owners.items() if owner == fsp)
            if not mine:
                continue
            path = configs.write_yaml(
                report_dir / "fsp" / f"fsp-{fsp}.yaml",
                configs.fsp_config(
                    sc,
                    grid,
                    all_stays,
                    fsp,
                    api_url=api,
                    rpc_url=chain.rpc_url,
                    ports=ports,
                    database=f"sqlite:///{report_dir / 'fsp' / f'fsp-{fsp}.db'}",
                    netting=fsp_netting(sc, chain, all_stays, fsp),
                    deployment=(deployment.chain_id, deployment.market),
                ),
            )
            sup.start(
                f"fsp-{fsp}",
                _cli("fsp", "run", "--config", str(path)),
                {**base, **configs.role_env(sc, fsp, mine), **configs.cpo_env(sc, mine)},
            )
            gateways.append(
                phases.Fsp(
                    fsp_id=fsp,
                    address=chain.addresses[fsp].lower(),
                    status_url=f"http://127.0.0.1:{ports.ev_api[fsp]}/status",
                    stations=mine,
                    log=sup.log_dir / f"fsp-{fsp}.log",
                    windows=tuple(
                        StayWindow(grid.station_point[s.station], s.arrival, s.departure)
                        for s in all_stays
                        if owners[s.station] == fsp
                    ),
                )
            )
        day = phases.LiveDay(
            scenario=sc,
            control=anvil,
            operator=op,
            supervisor=sup,
            fsps=gateways,
            dso_log=sup.log_dir / "dso.log",
            dso_out=dso_out,
            progress=progress,
        )
        for g in gateways:
            wait_until(
                f"fsp-{g.fsp_id}: GET /status",
                lambda g=g: day.status(g),
                sup,
                timeout_s=START_TIMEOUT_S,
            )
            argv = [
                sys.executable,
                "-m",
                "market.live.stations",
                str(scenario_path),
                "--fsp",
                g.fsp_id,
                "--url",
                f"ws://127.0.0.1:{ports.csms[g.fsp_id]}",
                "--rpc",
                chain.rpc_url,
                "--seed",
                str(sc.seed),
            ]
            if options.bench == "live":
                argv += ["--profiles-log", str(sup.log_dir / f"profiles-{g.fsp_id}.jsonl")]
            passwords = configs.role_env(sc, g.fsp_id, g.stations)
            passwords.pop(configs.KEY_ENV)  # the stations need their passwords, not the key
            sup.start(f"stations-{g.fsp_id}", argv, {**base, **passwords})
            wait_until(
                f"stations-{g.fsp_id}: {len(g.stations)} stations connected",
                lambda g=g: day.status(g).get("stations_connected", 0) >= len(g.stations),
                sup,
                timeout_s=START_TIMEOUT_S,
            )
        progress(f"roles up: {', '.join(f'{r}={p}' for r, p in sup.pids().items())}")
        if options.bench == "live":
            return _bench(day, sc, sup)
        if options.bench == "intraday":
            from market.live import bench_intraday

            result = bench_intraday.run(
                day,
                grid,
                api=api,
                rpc_url=chain.rpc_url,
                offers_wanted=options.bench_offers,
                market_db=report_dir / "market.db",
            )
            result["processes"] = sup.pids()
            (report_dir / "bench.json").write_text(json.dumps(result, indent=1, sort_keys=True))
            return result
        for spec in sorted(sc.sessions, key=lambda s: (sc.at(s.gate_closure), s.id)):
            _run_session(day, spec)
        report = live_report(sc, chain, op, day.session_ids)
        engine = make_engine(f"sqlite:///{report_dir}/market.db")
        try:
            report["clearing_house"] = clearing_house_section(
                sc, chain, engine, report_dir / "bundles", sorted(day.session_ids.values())
            )
        finally:
            engine.dispose()
        op.close()
        for role in [r for r in sup.children if r.startswith("stations-")]:
            sup.stop(role)
        sup.stop_all()  # gateways and market: the day is done
        keep_chain(anvil, chain.contracts.deployment, report_dir)
        anvil.stop()
        anvil = None
        report["chain_state"] = CHAIN_STATE_FILE
        if options.audit:
            report["audit"] = _audit(sup, report_dir, base, progress)
        report["processes"] = sup.pids()
        report["wall_s"] = round(time.monotonic() - wall0, 1)
        (report_dir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        return report
    finally:
        sup.stop_all()
        if anvil is not None:
            anvil.stop()


def _bench(day: phases.LiveDay, sc: Scenario, sup: Supervisor) -> dict[str, Any]:
    """The first session up to its dispatch; then each station's first profile latency."""
    from market.live import bench

    spec = min(sc.sessions, key=lambda s: sc.at(s.gate_closure))
    sid = phases.open_session(day, spec)
    phases.wait_prognoses(day, spec, sid)
    phases.wait_bids(day, spec, sid)
    phases.gate_closure(day, spec, sid)
    orders = day.operator.orders(sid)
    ordered = {str(o.get("fsp", "")).lower() for o in orders}
    # a gateway with an order dispatches every EV of its fleet (baseline for the others)
    expected = sum(len(g.stations) for g in day.fsps if g.address in ordered)
    logs = [sup.log_dir / f"profiles-{g.fsp_id}.jsonl" for g in day.fsps]
    cleared = day.cleared_wall[sid]
    settled, last = time.monotonic(), -1
    deadline = time.monotonic() + phases.PHASE_TIMEOUT_S
    while time.monotonic() < deadline:  # until no new station got a profile for 5 s
        sup.check()
        got = len(bench.latencies(logs, cleared))
        if got != last:
            settled, last = time.monotonic(), got
        elif got and time.monotonic() - settled > 5.0:
            break
        time.sleep(0.2)
    result = bench.summary(
        bench.latencies(logs, cleared), len(sc.stations), len(day.fsps), len(orders), expected
    )
    result["processes"] = sup.pids()
    (sup.report_dir / "bench.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    return result


def _run_session(day: phases.LiveDay, spec: SessionSpec) -> None:
    """One session through its phases; the market refusing or failing a step is a
    :class:`LiveError` naming the phase (a dead role is named by the supervisor first)."""
    phase = "open"
    try:
        day.progress(f"{spec.id}: open")
        sid = phases.open_session(day, spec)
        phases.wait_prognoses(day, spec, sid)
        phases.wait_bids(day, spec, sid)
        phase = "gate closure"
        day.progress(f"{spec.id}: gate closure")
        phases.gate_closure(day, spec, sid)
        phase = "dispatch"
        phases.wait_dispatch(day, spec, sid)
        phase = "delivery"
        day.progress(f"{spec.id}: delivery")
        phases.delivery(day, spec)
        phase = "verify and final"
        day.progress(f"{spec.id}: verify and final")
        phases.settle(day, spec, sid)
    except (ApiError, httpx.HTTPError) as exc:
        day.supervisor.check()
        raise LiveError(f"{spec.id}: {phase}: {type(exc).__name__}: {exc}") from exc


def _audit(
    sup: Supervisor, report_dir: Path, base: dict[str, str], progress: Progress
) -> dict[str, Any]:
    """``flexmarket audit --state`` as its own process against the kept chain and bundles."""
    progress("auditor: flexmarket audit --state chain-state.json --bundles <report>")
    argv = _cli(
        "audit",
        "--state",
        str(report_dir / CHAIN_STATE_FILE),
        "--bundles",
        str(report_dir),
        "--json",
    )
    child = sup.start("auditor", argv, base)
    code = child.proc.wait(timeout=900)
    child.log_file.close()
    text = child.log_path.read_text(errors="replace")
    start = text.find("{")
    summary: dict[str, Any] = {"exit_code": code, "passed": code == 0}
    try:
        full = json.loads(text[start:]) if start >= 0 else {}
    except ValueError:
        full = {}
    (report_dir / "audit.json").write_text(json.dumps(full, indent=1, sort_keys=True))
    summary["findings"] = sorted(
        f"{f.get('code', '')} {f.get('subject', '')}: {f.get('message', '')}".strip()
        for f in full.get("findings", [])
    )
    summary["sessions"] = len(full.get("sessions", []))
    if code not in (0, 1):
        raise LiveError(f"auditor exited with code {code}; see {child.log_path}")
    return summary
