"""The dispatch phase: each FSP fetches its orders, disaggregates them and sends OCPP charging
profiles; the operator records how the dispatch went."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from adapters.ocpp.orders import IspSetpoint
from clearing.messages import FlexOrder
from market.agents.fsp import FspAgent
from market.api.schemas import DispatchStatusCreate
from market.replay.context import ReplayContext, SessionRun


async def phase_dispatch(ctx: ReplayContext, run: SessionRun, agents: dict[str, FspAgent]) -> None:
    """Each FSP reads its orders from the market, disaggregates and dispatches over OCPP."""
    assert ctx.csms is not None
    schedules: dict[tuple[str, int], list[IspSetpoint]] = {}
    orders_of: dict[str, list[FlexOrder]] = {}
    for fsp, agent in agents.items():
        orders = await asyncio.to_thread(ctx.participants[fsp].orders, run.session_id)
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
