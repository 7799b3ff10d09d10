"""The simulated stations and the delivery phase: the CSMS and the station fleet run on a
:class:`StepClock` that the replay moves in meter-interval steps, with the chain following ISP
by ISP."""

from __future__ import annotations

import asyncio
import time

from adapters.ocpp.csms import Csms
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ocpp.sink import MeterReading, ReadingSink
from market.metering import store_sink
from market.replay.context import ProgressFn, ReplayContext, ReplayError, SessionRun
from market.replay.cpo import CpoTee
from market.replay.history import MeterHistory, meter_history
from market.replay.simclock import Pacer, StepClock
from market.replay.world import station_specs


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
    step, isp = sc.period.meter_interval_s, sc.period.isp_s
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


async def start_stations(ctx: ReplayContext, at: int) -> None:
    sc = ctx.scenario
    ctx.clock = StepClock(at)
    history = meter_history(sc, ctx.grid, ctx.stays)
    specs = station_specs(sc, ctx.stays, history.registers)
    credentials = {s.station_id: s.password for s in specs}
    ctx.csms = Csms(
        credentials=credentials,
        sink=store_sink(ctx.runtime.engine)
        if ctx.cpos is None
        else CpoTee(store_sink(ctx.runtime.engine), ctx.cpos),
        clock=ctx.clock,
        meter_interval_s=sc.period.meter_interval_s,
        call_timeout_s=60.0,
    )
    await ctx.csms.start()
    await keep_history(ctx.csms.sink, history)
    ctx.fleet = StationFleet(
        ctx.csms.url,
        specs,
        clock=ctx.clock,
        meter_interval_s=sc.period.meter_interval_s,
        call_timeout_s=60.0,
    )
    await ctx.fleet.start(timeout_s=180.0)
    await advance(ctx, at)


async def keep_history(sink: ReadingSink, history: MeterHistory) -> None:
    """The meters' history, kept in the store as the CSMS keeps live readings (before any
    live one, so the registers continue where the history ends)."""
    for h in history.readings:
        r = h.reading
        await sink.store(
            MeterReading(
                station_id=r.station,
                evse_id=r.evse,
                timestamp=r.timestamp,
                import_wh=r.import_wh,
                export_wh=r.export_wh,
                power_w=h.power_w,
                soc_pct=None,
                protocol="history",
                received_at=r.timestamp,
                signed_data=r.payload().decode(),
                signature=r.signature,
                public_key=h.public_key,
            )
        )
    if history.readings:
        await sink.flush()  # type: ignore[attr-defined]


async def stop_stations(ctx: ReplayContext) -> None:
    if ctx.fleet is not None:
        await ctx.fleet.stop()
    if ctx.csms is not None:
        await ctx.csms.stop()
