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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from adapters.chain.anvil import AnvilControl
from adapters.ocpp.csms import Csms
from adapters.ocpp.dispatch import IspSetpoint
from adapters.ocpp.simulator.fleet import StationFleet
from clearing.bundle import ResultBundle
from clearing.encoding import code_to_bytes32, hex32, uuid_to_bytes32
from clearing.messages import DPrognosis, FlexOffer, FlexOrder, FlexRequest
from clearing.settlement.delivery import DeliveryReport
from clearing.solvers.highs import pin_highs_threads
from market.agents.common import MarketSession as AgentSession
from market.agents.common import as_message
from market.agents.dso import DsoAgent, DsoConfig
from market.agents.fsp import DispatchPlan, FspAgent
from market.api.schemas import (
    AssetCreate,
    CongestionPointCreate,
    DispatchStatusCreate,
    MeterReadingCreate,
    ParticipantCreate,
    SessionCreate,
)
from market.clearing_house.service import final_report
from market.client import MarketClient, offer_commitment
from market.lifecycle.worker import Worker, step_history
from market.metering import store_sink
from market.replay.chain import (
    FUNDING_WEI,
    ReplayAnvil,
    ReplayChain,
    gas_by_kind,
    setup_chain,
)
from market.replay.derive import derived_key, derived_secret, derived_uuid
from market.replay.grid import ReplayGrid, check_scenario
from market.replay.netting import (
    NettingOutcome,
    implied_sharing,
    netting_outcome,
    post_revenue_sharing,
)
from market.replay.scenario import Scenario, SessionSpec
from market.replay.simclock import Pacer, StepClock
from market.replay.world import (
    FSP_ROLES,
    Stay,
    agent_ev,
    min_departure_pct,
    settlement_rules,
    station_address,
    station_faults,
    station_specs,
    stays,
)
from market.runtime import ChainClock, Runtime, attach_settlement, build_runtime
from market.settings import Settings

PHASES = ("open", "gate closure", "dispatch", "delivery", "verify", "final")
ProgressFn = Callable[[str, str, int, int], None]  # session, phase, done, total


class ReplayError(RuntimeError):
    """The replay could not complete; the message names the phase and the cause."""


@dataclass
class ReplayOptions:
    report_dir: Path
    rpc_url: str | None = None
    db_url: str | None = None
    speed: float = 0.0  # 0: as fast as possible; X: simulated time at most X x wall time
    seed: int | None = None
    audit: bool = True
    netting: bool = False  # settle the contracts' revenue sharing on-chain (settleNetting)


@dataclass
class SessionRun:
    """What one session produced; the report is built from these."""

    spec: SessionSpec
    session_id: str
    agent_session: AgentSession
    dso: dict[str, DsoAgent] = field(default_factory=dict)  # dso participant -> agent
    ev_load: dict[int, dict[int, float]] = field(default_factory=dict)
    requests: list[FlexRequest] = field(default_factory=list)
    prognoses: list[DPrognosis] = field(default_factory=list)
    offers: list[FlexOffer] = field(default_factory=list)
    result: ResultBundle | None = None
    plans: dict[str, DispatchPlan] = field(default_factory=dict)
    dispatch_status: dict[str, int] = field(default_factory=dict)
    delivery: DeliveryReport | None = None  # the report the money followed
    roots: dict[str, Any] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)
    forged: list[str] = field(default_factory=list)
    issues: dict[str, str] = field(default_factory=dict)  # EV id -> why it was left out
    netting: NettingOutcome | None = None
    timing: dict[str, float] = field(default_factory=dict)


@dataclass
class ReplayContext:
    scenario: Scenario
    options: ReplayOptions
    grid: ReplayGrid
    chain: ReplayChain
    runtime: Runtime
    base_url: str
    clients: dict[str, MarketClient]
    worker: Worker
    stays: list[Stay]
    csms: Csms | None = None
    fleet: StationFleet | None = None
    clock: StepClock | None = None
    runs: list[SessionRun] = field(default_factory=list)
    contracts_posted: set[str] = field(default_factory=set)  # revenue-sharing contract ids
    timing: dict[str, float] = field(default_factory=dict)
    phase: str = "setup"


# ------------------------------------------------------------------------------ plumbing
def _onchain_role(role: str) -> str:
    if role == "DSO":
        return "DSO"
    if role in FSP_ROLES:
        return "FSP"
    return ""


@contextlib.contextmanager
def _server(runtime: Runtime) -> Iterator[str]:
    """The market API on a real loopback socket (uvicorn in a thread)."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        runtime.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    srv = uvicorn.Server(config)
    srv.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.run, name="replay-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise ReplayError("setup: the market API did not start within 30 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=15)


def _reset_report_dir(report_dir: Path) -> None:
    """A run starts from a clean folder: old store, bundles and outputs are removed."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for name in ("market.db", "market.db-wal", "market.db-shm", "anvil-state.json"):
        (report_dir / name).unlink(missing_ok=True)
    for name in ("bundles",):
        shutil.rmtree(report_dir / name, ignore_errors=True)
    for name in ("report.json", "report.html", "timing.json", "interrupted.json"):
        (report_dir / name).unlink(missing_ok=True)


# ------------------------------------------------------------------------------ phases
def _register(ctx: ReplayContext) -> None:
    """Participants describe themselves, the operator lists congestion points, FSPs their
    EVSEs (with each station's meter key), all through the signed API."""
    sc = ctx.scenario
    ctx.clients["operator"].register_participant(ParticipantCreate(name="Replay market operator"))
    ctx.clients["meter-oracle"].register_participant(ParticipantCreate(name="Meter oracle"))
    for p in sorted(sc.participants, key=lambda p: p.id):
        if p.id in ctx.clients and _onchain_role(p.role):
            ctx.clients[p.id].register_participant(
                ParticipantCreate(name=p.name, eic_code=p.eic[:32] if p.eic else None)
            )
    for cp in ctx.grid.points:
        ctx.clients["operator"].create_congestion_point(
            CongestionPointCreate(code=cp.cp_id, name=cp.name[:200], parent_code=cp.parent_id)
        )
    for stay in ctx.stays:
        owner = stay.ev.fsp
        ctx.clients[owner].register_asset(
            AssetCreate(
                asset_id=derived_uuid(sc.seed, "asset", stay.station, stay.evse),
                congestion_point=ctx.grid.station_point[stay.station],
                station_id=stay.station,
                evse_id=stay.evse,
                max_import_w=stay.max_import_w,
                max_export_w=stay.max_export_w,
                meter_public_key=station_address(sc.seed, stay.station),
            )
        )
    registry = [
        {
            "station_id": stay.station,
            "evse_id": stay.evse,
            "owner": ctx.chain.addresses[stay.ev.fsp].lower(),
            "congestion_point": ctx.grid.station_point[stay.station],
            "meter_public_key": station_address(sc.seed, stay.station),
        }
        for stay in ctx.stays
    ]
    bundle_dir = ctx.runtime.settings.bundle_dir
    bundle_dir.mkdir(parents=True, exist_ok=True)
    (bundle_dir / "stations.json").write_text(json.dumps(registry, indent=1, sort_keys=True))


def _fsp_agents(ctx: ReplayContext, run: SessionRun) -> dict[str, FspAgent]:
    sc = ctx.scenario
    start, end = run.agent_session.start_unix, run.agent_session.horizon.end_unix
    by_fsp: dict[str, list[Any]] = defaultdict(list)
    for stay in ctx.stays:
        if stay.departure > start and stay.arrival < end:
            by_fsp[stay.ev.fsp].append(agent_ev(sc, ctx.grid, stay))
    return {
        fsp: FspAgent(
            fsp_address=ctx.chain.addresses[fsp].lower(),
            session=run.agent_session,
            evs=sorted(evs, key=lambda e: e.ev_id),
        )
        for fsp, evs in sorted(by_fsp.items())
    }


def phase_open_worker(ctx: ReplayContext, run: SessionRun) -> None:
    """The operator schedules the session; the worker creates it on-chain."""
    sc, spec = ctx.scenario, run.spec
    ctx.clients["operator"].create_session(
        SessionCreate(
            session_id=run.session_id,
            gate_closure=sc.at(spec.gate_closure),
            delivery_start=sc.at(spec.delivery_start),
            delivery_end=sc.at(spec.delivery_end),
            isp_s=sc.period.isp_seconds,
            challenge_window_s=sc.market.challenge_window_s,
        )
    )
    ctx.worker.run_once()  # createSession on-chain


def phase_open(ctx: ReplayContext, run: SessionRun, agents: dict[str, FspAgent]) -> None:
    """Prognoses, the DSO's forecast and escrowed requests, offers and their commitments."""
    sc, chain = ctx.scenario, ctx.chain
    for fsp, agent in agents.items():
        for prognosis in agent.prognoses():
            ctx.clients[fsp].post_prognosis(prognosis)
            run.prognoses.append(prognosis)
    dsos = sorted(p.id for p in sc.participants if p.role == "DSO")
    forecaster = ctx.grid.forecaster(sc)
    for n, dso_id in enumerate(dsos):
        dso = DsoAgent(
            forecaster=forecaster,
            session=run.agent_session,
            config=DsoConfig(max_price_per_mwh=sc.market.dso_alternative_cost_per_mwh),
        )
        run.ev_load = dso.ev_load_from_prognoses(run.prognoses)
        requests = dso.requests(run.ev_load) if n == 0 else []  # one grid, one requester
        run.dso[dso_id] = dso
        for req in requests:
            chain.contracts.market.post_request(
                uuid_to_bytes32(req.session_id),
                uuid_to_bytes32(req.request_id),
                code_to_bytes32(req.congestion_point),
                req.canonical_hash(),
                req.budget_units,
                sender=chain.addresses[dso_id],
            )
            ctx.clients[dso_id].post_request(req)
            run.requests.append(req)
    for fsp, agent in agents.items():
        rows = ctx.clients[fsp].requests(run.session_id)
        public = [as_message(FlexRequest, r) for r in rows]
        offers = agent.offers(public)
        for issue in [*agent.preference_issues, *agent.offer_issues]:
            run.issues.setdefault(issue.ev_id, f"{issue.constraint}: {issue.detail}")
        if not offers:
            continue
        root, count = offer_commitment(offers)
        chain.contracts.market.commit_offers(
            uuid_to_bytes32(run.session_id), root, count, sender=chain.addresses[fsp]
        )
        run.roots.setdefault("offer_roots", {})[chain.addresses[fsp].lower()] = hex32(root)
        for offer in offers:
            ctx.clients[fsp].post_offer(offer)
        run.offers.extend(offers)


def phase_gate(ctx: ReplayContext, run: SessionRun) -> None:
    sc = ctx.scenario
    ctx.chain.control.warp_to(sc.at(run.spec.gate_closure))
    t0 = time.perf_counter()
    ctx.worker.run_once()  # close -> clear -> (no dispatch hook) DELIVERING
    run.timing["clearing_s"] = round(time.perf_counter() - t0, 3)
    state = ctx.worker.ledger.session(run.session_id).state
    if state.name not in ("CLEARED",):
        raise ReplayError(f"gate closure: session {run.session_id} is {state.name}, not CLEARED")
    run.result = ResultBundle.model_validate_json(ctx.runtime.bundles.get(run.session_id, "result"))


async def phase_dispatch(ctx: ReplayContext, run: SessionRun, agents: dict[str, FspAgent]) -> None:
    """Each FSP reads its orders from the market, disaggregates and dispatches over OCPP."""
    assert ctx.csms is not None
    schedules: dict[tuple[str, int], list[IspSetpoint]] = {}
    orders_of: dict[str, list[FlexOrder]] = {}
    for fsp, agent in agents.items():
        rows = await asyncio.to_thread(ctx.clients[fsp].orders, run.session_id, agent.fsp_address)
        orders = [as_message(FlexOrder, r) for r in rows]
        orders_of[fsp] = orders
        plan = await asyncio.to_thread(agent.dispatch, orders)
        run.plans[fsp] = plan
        for key, setpoints in sorted(plan.schedules.items()):
            schedules[key] = [IspSetpoint(s.start_unix, s.duration_s, s.power_w) for s in setpoints]
    if schedules:
        result = await ctx.csms.dispatcher.dispatch(schedules)
        counts: dict[str, int] = defaultdict(int)
        for isps in result.values():
            if isps:
                counts[str(isps[0].status)] += 1
        run.dispatch_status = dict(sorted(counts.items()))
        await asyncio.to_thread(_report_dispatch, ctx, run, orders_of, result)


_DISPATCH_STATE = {
    "Accepted": "ACCEPTED",
    "Confirmed": "ACCEPTED",
    "Pending": "SENT",
    "Rejected": "REJECTED",
    "RefusedNoV2G": "REJECTED",
}


def _report_dispatch(
    ctx: ReplayContext,
    run: SessionRun,
    orders_of: dict[str, list[FlexOrder]],
    result: dict[tuple[str, int], list[Any]],
) -> None:
    """The operator records, per order and station, how the OCPP dispatch went."""
    for fsp, orders in sorted(orders_of.items()):
        stations: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for stay in ctx.stays:
            isps = result.get((stay.station, stay.evse))
            if stay.ev.fsp != fsp or not isps:
                continue
            cp = ctx.grid.station_point[stay.station]
            stations[cp][stay.station].append(f"{stay.evse}:{isps[0].status}")
        for order in sorted(orders, key=lambda o: o.order_id):
            for station, evses in sorted(stations.get(order.congestion_point, {}).items()):
                states = {_DISPATCH_STATE.get(e.split(":", 1)[1], "FAILED") for e in evses}
                state = next((x for x in ("FAILED", "REJECTED", "SENT") if x in states), "ACCEPTED")
                ctx.clients["operator"].report_dispatch(
                    DispatchStatusCreate(
                        session_id=run.session_id,
                        order_id=order.order_id,
                        station_id=station,
                        state=state,  # type: ignore[arg-type]
                        detail=("EVSE " + ", ".join(sorted(evses)))[:500],
                    )
                )


async def advance(ctx: ReplayContext, t: int, *, timeout_s: float = 120.0) -> None:
    """Move station time to ``t`` and wait until every station has sampled and sent up to it."""
    assert ctx.clock is not None and ctx.fleet is not None
    interval = ctx.scenario.period.meter_interval_s
    ctx.clock.set(t)
    floor = t // interval * interval
    deadline = time.monotonic() + timeout_s
    stations = list(ctx.fleet.stations.values())
    while True:
        if all(st.t >= floor and st._sleeping for st in stations):
            return
        if time.monotonic() > deadline:
            late = [st.spec.station_id for st in stations if st.t < floor][:5]
            raise ReplayError(f"delivery: stations {late} did not reach {t} within {timeout_s} s")
        await asyncio.sleep(0.002)


async def phase_delivery(
    ctx: ReplayContext, run: SessionRun, progress: ProgressFn, pacer: Pacer
) -> None:
    sc = ctx.scenario
    start, end = sc.at(run.spec.delivery_start), sc.at(run.spec.delivery_end)
    step, isp = sc.period.meter_interval_s, sc.period.isp_seconds
    assert ctx.clock is not None
    t = max(int(ctx.clock.now()) + step, start)
    total = (end - start) // isp
    while t <= end:
        await pacer.wait_for(t)
        await advance(ctx, t)
        if t % isp == 0:
            await asyncio.to_thread(ctx.chain.control.warp_to, t)
            progress(run.spec.id, "delivery", min(total, (t - start) // isp), total)
        t += step
    assert ctx.csms is not None
    await ctx.csms.sink.flush()  # type: ignore[attr-defined]


def _inject_forged_readings(ctx: ReplayContext, run: SessionRun) -> None:
    """``forged_reading`` faults: a reading signed with a key that is not the station's, posted
    by the meter oracle; verification must exclude it and name it in its findings."""
    from clearing.settlement.meter import sign_reading

    sc = ctx.scenario
    start, end = sc.at(run.spec.delivery_start), sc.at(run.spec.delivery_end)
    for f in sc.faults:
        if f.kind != "forged_reading":
            continue
        at = sc.at(f.at)
        if not start <= at <= end:
            continue
        evse = next((s.evse for s in ctx.stays if s.station == f.station), 1)
        forged = sign_reading(
            derived_key(sc.seed, f"forger:{f.station}"),
            station=f.station,
            evse=evse,
            timestamp=at + 1,
            import_wh=10**9,
            export_wh=0,
        )
        ctx.clients["meter-oracle"].post_meter_reading(
            MeterReadingCreate(
                station_id=f.station,
                evse_id=evse,
                timestamp=forged.timestamp,
                import_wh=forged.import_wh,
                export_wh=forged.export_wh,
                signed_data=forged.payload().decode(),
                signature=forged.signature,
            )
        )
        run.forged.append(f"{f.station}/{evse}@{forged.timestamp}")


def phase_verify(ctx: ReplayContext, run: SessionRun) -> None:
    sc = ctx.scenario
    end = sc.at(run.spec.delivery_end)
    _inject_forged_readings(ctx, run)
    ctx.chain.control.warp_to(end + sc.market.meter_grace_s)
    t0 = time.perf_counter()
    ctx.worker.run_once()
    run.timing["verify_s"] = round(time.perf_counter() - t0, 3)
    info = ctx.worker.ledger.session(run.session_id)
    if info.state.name not in ("VERIFIED", "FINAL"):
        raise ReplayError(
            f"verify: session {run.session_id} is {info.state.name}, not VERIFIED "
            f"({_step_detail(ctx, run.session_id, 'verify')})"
        )
    run.delivery = final_report(ctx.runtime.engine, ctx.runtime.bundles, run.session_id)


def _step_detail(ctx: ReplayContext, session_id: str, step: str) -> str:
    """The lifecycle worker's record of ``step`` (status: detail), for error messages."""
    for row in step_history(ctx.runtime.engine, session_id):
        if row["step"] == step:
            return f"{step} step {row['status']}: {row['detail']}"
    return f"{step} step not run"


def phase_final(ctx: ReplayContext, run: SessionRun) -> None:
    """Finalize after the challenge window; with ``--netting`` the FSPs have posted their
    revenue-sharing contracts and contributions, and the worker's clearing-house step nets the
    session on-chain right after ``finalize``."""
    chain, ledger = ctx.chain, ctx.worker.ledger
    sharing = post_revenue_sharing(ctx, run) if ctx.options.netting else None
    info = ledger.session(run.session_id)
    chain.control.warp_to(int(info.verified_at + info.challenge_window))
    ctx.worker.run_once()
    info = ledger.session(run.session_id)
    if info.state.name != "FINAL":
        raise ReplayError(
            f"final: session {run.session_id} is {info.state.name}, not FINAL "
            f"({_step_detail(ctx, run.session_id, 'finalize')})"
        )
    if sharing is not None:
        netted = _step_detail(ctx, run.session_id, "clearing")
        if not netted.startswith("clearing step DONE"):
            raise ReplayError(f"final: session {run.session_id}: {netted}")
        run.netting = netting_outcome(ctx, run, sharing)
    else:  # the same clearing-house computation, off-chain, for the report
        run.netting = implied_sharing(ctx, run)
    clearing, attested = ledger.clearing(run.session_id), ledger.payouts(run.session_id)
    run.roots.update(
        session_id_onchain=hex32(uuid_to_bytes32(run.session_id)),
        input_hash=hex32(clearing.input_hash) if clearing else "",
        result_root=hex32(clearing.result_root) if clearing else "",
        delivery_root=hex32(attested.delivery_root) if attested else "",
        payouts_onchain=list(attested.payouts) if attested else [],
    )
    market = chain.contracts.market
    holders = {pid: a for pid, a in chain.addresses.items() if pid != "meter-oracle"}
    if run.netting is not None and run.netting.onchain:
        for address, name in run.netting.names.items():
            if name not in holders and address not in {a.lower() for a in holders.values()}:
                holders[name] = to_checksum_address(address)
    for pid in sorted(holders):
        address = holders[pid]
        if market.credits(address) == 0:
            continue
        chain.control.set_balance(address, FUNDING_WEI)  # payees without gas money too
        tx = market.withdraw(sender=address)
        run.withdrawn[pid] = int(tx.event("Withdrawn").args["amount"])


# ------------------------------------------------------------------------------ driver
async def _run_sessions(ctx: ReplayContext, progress: ProgressFn) -> None:
    # The lifecycle worker (clearing) gets a thread of its own: HiGHS' scheduler is per thread
    # and must start single-threaded there (see pin_highs_threads), while the agents' LPs run
    # with HiGHS' defaults in asyncio's pool.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-worker") as pool:
        await loop.run_in_executor(pool, pin_highs_threads)

        async def in_worker(fn: Callable[..., None], *args: Any) -> None:
            await loop.run_in_executor(pool, fn, *args)

        await _sessions(ctx, progress, in_worker)


async def _sessions(
    ctx: ReplayContext, progress: ProgressFn, in_worker: Callable[..., Any]
) -> None:
    sc = ctx.scenario
    pacer = Pacer(ctx.options.speed)
    interval = sc.period.meter_interval_s
    for spec in sorted(sc.sessions, key=lambda s: (sc.at(s.gate_closure), s.id)):
        session_id = derived_uuid(sc.seed, sc.name, "session", spec.id)
        start, end = sc.at(spec.delivery_start), sc.at(spec.delivery_end)
        run = SessionRun(
            spec=spec,
            session_id=session_id,
            agent_session=AgentSession(
                session_id=session_id,
                start_unix=start,
                n_isps=(end - start) // sc.period.isp_seconds,
                gate_closure_unix=sc.at(spec.gate_closure),
                isp_s=sc.period.isp_seconds,
            ),
        )
        ctx.runs.append(run)
        t0 = time.perf_counter()
        mark = [t0]

        def lap(phase: str, run: SessionRun = run, mark: list[float] = mark) -> None:
            now = time.perf_counter()
            run.timing[f"{phase.replace(' ', '_')}_s"] = round(now - mark[0], 3)
            mark[0] = now
            progress(run.spec.id, phase, 1, 1)

        ctx.phase = f"{spec.id}: open"
        progress(spec.id, "open", 0, 1)
        agents = await asyncio.to_thread(_fsp_agents, ctx, run)
        ctx.chain.control.warp_to(sc.at(spec.gate_closure) - 3600)
        await in_worker(phase_open_worker, ctx, run)
        await asyncio.to_thread(phase_open, ctx, run, agents)
        lap("open")
        ctx.phase = f"{spec.id}: gate closure"
        progress(spec.id, "gate closure", 0, 1)
        await in_worker(phase_gate, ctx, run)
        lap("gate closure")
        ctx.phase = f"{spec.id}: dispatch"
        progress(spec.id, "dispatch", 0, 1)
        pre = start - interval
        await asyncio.to_thread(ctx.chain.control.warp_to, pre)
        if ctx.fleet is None:
            await _start_stations(ctx, pre)
        else:
            await advance(ctx, max(pre, int(ctx.clock.now())))  # type: ignore[union-attr]
        await phase_dispatch(ctx, run, agents)
        lap("dispatch")
        ctx.phase = f"{spec.id}: delivery"
        await phase_delivery(ctx, run, progress, pacer)
        lap("delivery")
        ctx.phase = f"{spec.id}: verify"
        progress(spec.id, "verify", 0, 1)
        await in_worker(phase_verify, ctx, run)
        lap("verify")
        ctx.phase = f"{spec.id}: final"
        progress(spec.id, "final", 0, 1)
        await in_worker(phase_final, ctx, run)
        lap("final")
        run.timing["session_s"] = round(time.perf_counter() - t0, 3)
    ctx.phase = "done"


async def _start_stations(ctx: ReplayContext, at: int) -> None:
    sc = ctx.scenario
    ctx.clock = StepClock(at)
    specs = station_specs(sc, ctx.stays)
    credentials = {s.station_id: s.password for s in specs}
    ctx.csms = Csms(
        credentials=credentials,
        sink=store_sink(ctx.runtime.engine),
        clock=ctx.clock,
        meter_interval_s=sc.period.meter_interval_s,
        call_timeout_s=60.0,
    )
    await ctx.csms.start()
    ctx.fleet = StationFleet(
        ctx.csms.url,
        specs,
        clock=ctx.clock,
        meter_interval_s=sc.period.meter_interval_s,
        call_timeout_s=60.0,
    )
    await ctx.fleet.start(timeout_s=180.0)
    await advance(ctx, at)


async def _stop_stations(ctx: ReplayContext) -> None:
    if ctx.fleet is not None:
        await ctx.fleet.stop()
    if ctx.csms is not None:
        await ctx.csms.stop()


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
    progress = progress or (lambda *_: None)
    scenario, grid = check_scenario(scenario_path)
    if options.seed is not None:
        scenario = scenario.model_copy(update={"seed": options.seed})
    pin_highs_threads()  # this thread runs the auditor's recomputation
    timing: dict[str, float] = {"load_s": round(time.perf_counter() - wall0, 3)}
    report_dir = options.report_dir
    _reset_report_dir(report_dir)
    restore_signals = _interrupt_guard()
    first_gate = min(scenario.at(s.gate_closure) for s in scenario.sessions)
    anvil: ReplayAnvil | None = None
    ctx: ReplayContext | None = None
    try:
        if options.rpc_url:
            control: AnvilControl = AnvilControl(rpc_url=options.rpc_url)
        else:
            anvil = ReplayAnvil(
                accounts=1,
                timestamp=first_gate - 2 * 3600,
                log_path=report_dir / "anvil.log",
                gas_limit=100_000_000,
            )
            anvil.start()
            control = anvil
        chain_now = control.block_timestamp()
        if chain_now >= first_gate - 3600:
            raise ReplayError(
                f"--rpc: chain time {chain_now} is not before the first gate closure "
                f"{first_gate} - 1 h; start anvil with --timestamp {first_gate - 7200}"
            )
        participants = [(p.id, _onchain_role(p.role)) for p in scenario.participants]
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
            fee_recipient=chain.operator.lower(),
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
        )
        attach_settlement(worker, settings, ledger=chain.ledger)
        timing["setup_chain_s"] = round(time.perf_counter() - wall0, 3)
        with _server(runtime) as base_url:
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
            )
            chain.control.warp_to(first_gate - 2 * 3600 + 60)
            _register(ctx)
            timing["setup_s"] = round(time.perf_counter() - wall0, 3)

            async def main() -> None:
                try:
                    await _run_sessions(ctx, progress)
                finally:
                    await _stop_stations(ctx)

            asyncio.run(main())
            timing["replay_s"] = round(time.perf_counter() - wall0, 3)
            for client in clients.values():
                client.close()
        t_report = time.perf_counter()
        report, plots = build_report(ctx)
        report["gas"] = gas_by_kind(chain, 0)
        report["audit"] = (
            _audit(chain, runtime.settings.bundle_dir)
            if options.audit
            else {
                "available": False,
                "reason": "skipped (--no-audit)",
            }
        )
        if report["audit"].get("passed") is False:
            report["findings"] = sorted(
                [*report["findings"], *(f"audit: {f}" for f in report["audit"]["findings"])]
            )
        write_html(report_dir, report, plots)
        timing["report_s"] = round(time.perf_counter() - t_report, 3)
        timing["total_wall_s"] = round(time.perf_counter() - wall0, 3)
        timing["sessions"] = {r.spec.id: r.timing for r in ctx.runs}  # type: ignore[assignment]
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


def _record_interrupt(
    report_dir: Path, ctx: ReplayContext | None, anvil: ReplayAnvil | None
) -> None:
    """On Ctrl-C: keep the chain state and say where the replay stopped."""
    note: dict[str, Any] = {"interrupted_in": ctx.phase if ctx else "setup"}
    if anvil is not None:
        try:
            anvil.dump_state(report_dir / "anvil-state.json")
            note["anvil_state"] = "anvil-state.json"
        except Exception as exc:
            note["anvil_state_error"] = str(exc)
    note["database"] = "market.db (every committed step; the lifecycle table names the last one)"
    note["resume"] = (
        "not supported: a re-run with the same --report starts the scenario over from a clean "
        "folder; the files here are a consistent record of the interrupted run"
    )
    (report_dir / "interrupted.json").write_text(json.dumps(note, indent=2, sort_keys=True))


def _audit(chain: ReplayChain, bundle_dir: Path) -> dict[str, Any]:
    try:
        from market.audit.runner import run_audit
    except ImportError as exc:
        return {"available": False, "reason": f"auditor not importable: {exc}"}
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
    }


def fault_stations(scenario: Scenario) -> dict[str, list[str]]:
    """Station id -> the fault kinds injected there (for explaining SoC violations)."""
    out: dict[str, list[str]] = {}
    for st in scenario.stations:
        faults, extra = station_faults(scenario, st.id)
        kinds = sorted({f.kind for f in scenario.faults if f.station == st.id} | set(extra))
        if kinds:
            out[st.id] = kinds
        del faults
    return out


__all__ = [
    "PHASES",
    "ReplayError",
    "ReplayOptions",
    "fault_stations",
    "min_departure_pct",
    "run_replay",
]
