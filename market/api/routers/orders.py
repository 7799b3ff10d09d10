"""FlexOrders (awards), from the published result bundle, and their dispatch status."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from clearing.messages import FlexOrder
from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.errors import NotFound
from market.store import models as m
from market.store.models import DispatchStatusCreate, DispatchStatusPublic

router = APIRouter(tags=["orders"])


@router.get("/sessions/{session_id}/orders", response_model=list[FlexOrder])
def list_orders(session_id: str, core: CoreDep, fsp: str | None = None) -> list[dict[str, Any]]:
    with Session(core.engine) as db:
        q = select(m.OrderRow).where(m.OrderRow.session_id == session_id)
        if fsp:
            q = q.where(m.OrderRow.fsp == fsp.lower())
        return [json.loads(r.body_json) for r in db.exec(q.order_by(col(m.OrderRow.id)))]


@router.get("/orders/{order_id}", response_model=FlexOrder, responses={404: {}})
def get_order(order_id: str, core: CoreDep) -> dict[str, Any]:
    with Session(core.engine) as db:
        row = db.get(m.OrderRow, order_id)
    if row is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    body: dict[str, Any] = json.loads(row.body_json)
    return body


@router.post(
    "/dispatch", status_code=201, response_model=DispatchStatusCreate, responses=WRITE_RESPONSES
)
async def report_dispatch(
    env: Signed[DispatchStatusCreate], core: CoreDep, request: Request
) -> Response:
    """Record dispatch progress (kind ``dispatch_status``; operator)."""
    return await submit_signed(core, "dispatch_status", request, env.body)


@router.get("/sessions/{session_id}/dispatch", response_model=list[DispatchStatusPublic])
def list_dispatch(session_id: str, core: CoreDep) -> list[DispatchStatusPublic]:
    with Session(core.engine) as db:
        q = select(m.DispatchStatus).where(m.DispatchStatus.session_id == session_id)
        rows = db.exec(q.order_by(col(m.DispatchStatus.id)))
        return [DispatchStatusPublic.model_validate(r.model_dump()) for r in rows]
