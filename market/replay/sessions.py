"""The session loop: each session of the scenario through its phases, in gate-closure order,
with the lifecycle worker's steps on a thread of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clearing.solvers.highs_api import pin_highs_threads
from market.agents.common import MarketSession as AgentSession
from market.replay.bidding import fsp_agents, phase_gate, phase_open, phase_open_worker
from market.replay.context import ProgressFn, ReplayContext, SessionRun
from market.replay.delivery import advance, phase_delivery, start_stations
from market.replay.derive import derived_uuid
from market.replay.dispatch import phase_dispatch
from market.replay.phase_meter import Mark
from market.replay.scenario import OPENS_BEFORE_GATE_S
from market.replay.settlement import phase_final, phase_verify
from market.replay.simclock import Pacer


async def run_sessions(ctx: ReplayContext, progress: ProgressFn) -> None:
    """Run every session of the scenario, each through all of :data:`PHASES`."""
    # The lifecycle worker (clearing) gets a thread of its own: HiGHS' scheduler is per thread
    # and must start single-threaded there (see pin_highs_threads); the agents' LPs run in
    # asyncio's pool, single-threaded too (new_highs).
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-worker") as pool:
        await loop.run_in_executor(pool, pin_highs_threads)

        async def in_worker(fn: Callable[..., None], *args: Any) -> None:
            await loop.run_in_executor(pool, fn, *args)

        await _sessions(ctx, progress, in_worker)


async def _sessions(
    ctx: ReplayContext, progress: ProgressFn, in_worker: Callable[..., Any]
) -> None:
    """The session loop; ``in_worker`` runs a lifecycle-worker step on the worker's thread."""
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
                n_isps=(end - start) // sc.period.isp_s,
                gate_closure_unix=sc.at(spec.gate_closure),
                isp_s=sc.period.isp_s,
            ),
        )
        ctx.runs.append(run)
        t0 = time.perf_counter()
        mark = [ctx.meter.mark()]

        def lap(phase: str, run: SessionRun = run, mark: list[Mark] = mark) -> None:
            key = phase.replace(" ", "_")
            since = mark[0]
            mark[0] = ctx.meter.add(key, since)  # the day's totals per phase (timing.json)
            run.timing[f"{key}_s"] = round(mark[0][0] - since[0], 3)
            progress(run.spec.id, phase, 1, 1)

        ctx.phase = f"{spec.id}: open"
        progress(spec.id, "open", 0, 1)
        opens = sc.at(spec.gate_closure) - OPENS_BEFORE_GATE_S
        if ctx.fleet is not None:  # the FSPs plan from what their chargers reported by then
            await asyncio.to_thread(ctx.chain.control.warp_to, opens)
            await advance(ctx, max(opens, int(ctx.clock.now())))  # type: ignore[union-attr]
        agents = await asyncio.to_thread(fsp_agents, ctx, run)
        ctx.chain.control.warp_to(opens)
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
            await start_stations(ctx, pre)
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
