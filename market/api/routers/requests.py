"""FlexRequests of DSOs (their escrow lives on-chain)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import Session, select

from clearing.messages import FlexRequest
from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.core import message_public
from market.errors import NotFound
from market.store import models as m

router = APIRouter(tags=["requests"])


def _public(r: m.FlexRequestRow) -> dict:
    return message_public(r.body_json, body_hash=r.body_hash, submitter=r.dso)


@router.post("/requests", status_code=201, responses=WRITE_RESPONSES)
async def create(env: Signed[FlexRequest], core: CoreDep, request: Request):
    """Post a FlexRequest (kind ``request``; DSO) after escrowing its budget on-chain."""
    return await submit_signed(core, "request", request, env.body)


@router.get("/sessions/{session_id}/requests")
def list_requests(session_id: str, core: CoreDep) -> list[dict]:
    with Session(core.engine) as db:
        q = select(m.FlexRequestRow).where(m.FlexRequestRow.session_id == session_id)
        return [_public(r) for r in db.exec(q.order_by(m.FlexRequestRow.id))]


@router.get("/requests/{request_id}")
def get_request(request_id: str, core: CoreDep) -> dict:
    with Session(core.engine) as db:
        row = db.get(m.FlexRequestRow, request_id)
    if row is None:
        raise NotFound(f"no request {request_id}", field="request_id")
    return _public(row)
