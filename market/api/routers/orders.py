"""FlexOrders (awards), from the published result bundle, their dispatch status and the FSPs'
acknowledgements that they dispatch them."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from clearing.messages import FlexOrder
from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.errors import InvalidMessage, NotFound
from market.lifecycle.dispatch import dispatch_report
from market.store import models as m
from market.store.models import (
    DispatchAckCreate,
    DispatchAckPublic,
    DispatchAckResult,
    DispatchStatusCreate,
    DispatchStatusPublic,
)

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


@router.post(
    "/sessions/{session_id}/dispatch-acks",
    status_code=201,
    response_model=DispatchAckResult,
    responses={**WRITE_RESPONSES, 404: {"description": "Unknown session or order"}},
)
async def ack_dispatch(
    session_id: str, env: Signed[DispatchAckCreate], core: CoreDep, request: Request
) -> Response:
    """An FSP takes over dispatch of its own orders (kind ``dispatch_ack``; FSP, own orders).

    Accepted while the session is CLEARED or DELIVERING; an order already acknowledged is
    skipped, so the answer lists only the orders this message acknowledged.
    """
    if env.body.session_id != session_id:
        reason = f"must equal the path's session id {session_id}"
        raise InvalidMessage(reason, field="body.session_id")
    return await submit_signed(core, "dispatch_ack", request, env.body)


@router.get("/sessions/{session_id}/dispatch-acks", response_model=list[DispatchAckPublic])
def list_dispatch_acks(session_id: str, core: CoreDep) -> list[DispatchAckPublic]:
    """Per FSP: which of its orders it acknowledged for dispatch, and which not (yet)."""
    return dispatch_report(core.engine, session_id)
