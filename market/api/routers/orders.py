"""FlexOrders (awards), from the published result bundle, and their dispatch status."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from sqlmodel import Session, select

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import DispatchStatusCreate, Signed
from market.errors import NotFound
from market.store import models as m

router = APIRouter(tags=["orders"])


@router.get("/sessions/{session_id}/orders")
def list_orders(session_id: str, core: CoreDep, fsp: str | None = None) -> list[dict]:
    with Session(core.engine) as db:
        q = select(m.OrderRow).where(m.OrderRow.session_id == session_id)
        if fsp:
            q = q.where(m.OrderRow.fsp == fsp.lower())
        return [json.loads(r.body_json) for r in db.exec(q.order_by(m.OrderRow.id))]


@router.get("/orders/{order_id}")
def get_order(order_id: str, core: CoreDep) -> dict:
    with Session(core.engine) as db:
        row = db.get(m.OrderRow, order_id)
    if row is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    return json.loads(row.body_json)


@router.post("/dispatch", status_code=201, responses=WRITE_RESPONSES)
async def report_dispatch(env: Signed[DispatchStatusCreate], core: CoreDep, request: Request):
    """Record dispatch progress (kind ``dispatch_status``; operator)."""
    return await submit_signed(core, "dispatch_status", request, env.body)


@router.get("/sessions/{session_id}/dispatch")
def list_dispatch(session_id: str, core: CoreDep) -> list[dict]:
    with Session(core.engine) as db:
        q = select(m.DispatchStatus).where(m.DispatchStatus.session_id == session_id)
        return [r.model_dump() for r in db.exec(q.order_by(m.DispatchStatus.id))]
