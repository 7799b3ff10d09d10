"""FlexRequests of DSOs (their escrow lives on-chain)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from clearing.messages import FlexRequest
from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.errors import NotFound
from market.store import models as m
from market.store.models import RequestPublic
from market.store.models.signed_message import message_public

router = APIRouter(tags=["requests"])


def _public(r: m.FlexRequestRow) -> dict[str, Any]:
    return message_public(r.body_json, body_hash=r.body_hash, submitter=r.dso)


@router.post("/requests", status_code=201, response_model=RequestPublic, responses=WRITE_RESPONSES)
async def create(env: Signed[FlexRequest], core: CoreDep, request: Request) -> Response:
    """Post a FlexRequest (kind ``request``; DSO) after escrowing its budget on-chain."""
    return await submit_signed(core, "request", request, env.body)


@router.get("/sessions/{session_id}/requests", response_model=list[RequestPublic])
def list_requests(session_id: str, core: CoreDep) -> list[dict[str, Any]]:
    with Session(core.engine) as db:
        q = select(m.FlexRequestRow).where(m.FlexRequestRow.session_id == session_id)
        return [_public(r) for r in db.exec(q.order_by(col(m.FlexRequestRow.id)))]


@router.get("/requests/{request_id}", response_model=RequestPublic, responses={404: {}})
def get_request(request_id: str, core: CoreDep) -> dict[str, Any]:
    with Session(core.engine) as db:
        row = db.get(m.FlexRequestRow, request_id)
    if row is None:
        raise NotFound(f"no request {request_id}", field="request_id")
    return _public(row)
