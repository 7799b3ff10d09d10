"""The market phases of a session before delivery: open (prognoses, the DSO's requests, offers
and their commitments) and gate closure (close and clear)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from clearing.bundle import ResultBundle
from market.agents.dso import DsoAgent, DsoConfig
from market.agents.fleet import EV
from market.agents.fsp import FspAgent
from market.agents.stays import reported_ev
from market.api.schemas import SessionCreate
from market.replay.context import ReplayContext, ReplayError, SessionRun
from market.replay.netting import post_contracts
from market.replay.world import Stay, announced_stay


def fsp_agents(ctx: ReplayContext, run: SessionRun) -> dict[str, FspAgent]:
    """One agent per FSP, with the EVs that are plugged in during the session."""
    start, end = run.agent_session.start_unix, run.agent_session.horizon.end_unix
    by_fsp: dict[str, list[Any]] = defaultdict(list)
    for stay in ctx.stays:
        if stay.departure > start and stay.arrival < end:
            by_fsp[stay.ev.fsp].append(_plugged_in_now(ctx, stay, start))
    return {
        fsp: FspAgent(
            fsp_address=ctx.chain.addresses[fsp].lower(),
            session=run.agent_session,
            evs=sorted(evs, key=lambda e: e.ev_id),
        )
        for fsp, evs in sorted(by_fsp.items())
    }


def _plugged_in_now(ctx: ReplayContext, stay: Stay, start: int) -> EV:
    """The FSP's view of an EV: :func:`market.agents.stays.reported_ev` over the last reading
    its charger sent to the CSMS, as the FSP gateway plans it in ``flexmarket live``.

    A later session of the day (intraday) sees EVs that arrived and charged during an earlier
    one: the FSP knows their SoC (an integer percent) from its CSMS, and until the session
    starts they charge uncontrolled (the station's default). EVs not yet plugged in, and every
    EV before the stations run (the first session), are planned from the announced arrival SoC.
    """
    announced = announced_stay(ctx.scenario, ctx.grid, stay)
    last = ctx.csms.last_reading(stay.station, stay.evse) if ctx.csms is not None else None
    if last is None:
        return reported_ev(announced, None, None, start)
    return reported_ev(announced, last.soc_pct, last.timestamp, start)


def phase_open_worker(ctx: ReplayContext, run: SessionRun) -> None:
    """The operator schedules the session; the worker creates it on-chain."""
    sc, spec = ctx.scenario, run.spec
    ctx.clients["operator"].create_session(
        SessionCreate(
            session_id=run.session_id,
            gate_closure=sc.at(spec.gate_closure),
            delivery_start=sc.at(spec.delivery_start),
            delivery_end=sc.at(spec.delivery_end),
            isp_s=sc.period.isp_s,
            challenge_window_s=sc.market.challenge_window_s,
        )
    )
    ctx.worker.run_once()  # createSession on-chain


def phase_open(ctx: ReplayContext, run: SessionRun, agents: dict[str, FspAgent]) -> None:
    """Prognoses, the DSO's forecast and escrowed requests, offers and their commitments."""
    sc, chain = ctx.scenario, ctx.chain
    for fsp, agent in agents.items():
        for prognosis in agent.prognoses():
            ctx.participants[fsp].post_prognosis(prognosis)
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
            ctx.participants[dso_id].post_request(req)  # escrow on-chain, then publish
            run.requests.append(req)
    if ctx.options.netting:
        post_contracts(ctx)  # before any commitment: it binds the FSP's contract set
    for fsp, agent in agents.items():
        offers = agent.offers(ctx.participants[fsp].requests(run.session_id))
        for issue in [*agent.preference_issues, *agent.offer_issues]:
            run.issues.setdefault(issue.ev_id, f"{issue.constraint}: {issue.detail}")
        if not offers:
            continue
        root = ctx.participants[fsp].submit_offers(offers)  # commit on-chain, then submit
        run.roots.setdefault("offer_roots", {})[chain.addresses[fsp].lower()] = root
        run.offers.extend(offers)


RELAY_MARGIN_S = 60


def phase_gate(ctx: ReplayContext, run: SessionRun) -> None:
    """At gate closure the worker closes and clears the session; keep its result bundle."""
    sc = ctx.scenario
    gate = sc.at(run.spec.gate_closure)
    # the worker relays the FSPs' signed commitments in one batch; an FSP whose commitment is
    # not on-chain by then commits itself (the participant library's fallback)
    ctx.chain.control.warp_to(gate - RELAY_MARGIN_S)
    ctx.worker.run_once()
    for p in ctx.participants.values():
        if p.relayed(run.session_id):
            p.ensure_committed(run.session_id)
    ctx.chain.control.warp_to(gate)
    t0 = time.perf_counter()
    ctx.worker.run_once()  # close -> clear -> (no dispatch hook) DELIVERING
    run.timing["clearing_s"] = round(time.perf_counter() - t0, 3)
    state = ctx.worker.ledger.session(run.session_id).state
    if state.name not in ("CLEARED",):
        raise ReplayError(f"gate closure: session {run.session_id} is {state.name}, not CLEARED")
    run.result = ResultBundle.model_validate_json(ctx.runtime.bundles.get(run.session_id, "result"))
