"""Market sessions and their published bundles."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, select

from market.api.deps import BundlesDep, CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import SessionCreate, Signed
from market.core import session_public
from market.errors import NotFound
from market.store import models as m

router = APIRouter(prefix="/sessions", tags=["sessions"])


def load_session(core, session_id: str) -> m.MarketSession:
    with Session(core.engine) as db:
        row = db.get(m.MarketSession, session_id)
    if row is None:
        raise NotFound(f"no session {session_id}", field="session_id")
    return row


@router.post("", status_code=201, responses=WRITE_RESPONSES)
async def create(env: Signed[SessionCreate], core: CoreDep, request: Request):
    """Schedule a session (kind ``session``; operator); the worker opens it on-chain."""
    return await submit_signed(core, "session", request, env.body)


@router.get("")
def list_sessions(core: CoreDep, state: str | None = None) -> list[dict]:
    with Session(core.engine) as db:
        q = select(m.MarketSession)
        if state:
            q = q.where(m.MarketSession.state == state)
        return [session_public(r) for r in db.exec(q.order_by(m.MarketSession.gate_closure))]


@router.get("/{session_id}")
def get_session(session_id: str, core: CoreDep) -> dict:
    return session_public(load_session(core, session_id))


@router.get(
    "/{session_id}/bundles/{kind}",
    responses={200: {"content": {"application/json": {}}}, 404: {}},
)
def get_bundle(
    session_id: str, kind: Literal["input", "result", "delivery"], bundles: BundlesDep
) -> Response:
    """The published bundle, byte-exact; its keccak256 equals the on-chain hash or root."""
    content = bundles.get(session_id, kind)
    return Response(content, media_type="application/json")
