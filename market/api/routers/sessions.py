"""Market sessions and their published bundles."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from market.api.deps import BundlesDep, CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.core import MarketCore
from market.errors import NotFound
from market.store import models as m
from market.store.models import SessionCreate, SessionPublic

router = APIRouter(prefix="/sessions", tags=["sessions"])

#: A bundle is served byte-exact; its schema is the bundle format (docs/ARCHITECTURE.md).
BUNDLE_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The bundle's canonical JSON bytes",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    404: {},
}


def load_session(core: MarketCore, session_id: str) -> m.MarketSession:
    with Session(core.engine) as db:
        row = db.get(m.MarketSession, session_id)
    if row is None:
        raise NotFound(f"no session {session_id}", field="session_id")
    return row


@router.post("", status_code=201, response_model=SessionPublic, responses=WRITE_RESPONSES)
async def create(env: Signed[SessionCreate], core: CoreDep, request: Request) -> Response:
    """Schedule a session (kind ``session``; operator); the worker opens it on-chain."""
    return await submit_signed(core, "session", request, env.body)


@router.get("", response_model=list[SessionPublic])
def list_sessions(core: CoreDep, state: str | None = None) -> list[SessionPublic]:
    with Session(core.engine) as db:
        q = select(m.MarketSession)
        if state:
            q = q.where(m.MarketSession.state == state)
        rows = db.exec(q.order_by(col(m.MarketSession.gate_closure)))
        return [SessionPublic.from_row(r) for r in rows]


@router.get("/{session_id}", response_model=SessionPublic, responses={404: {}})
def get_session(session_id: str, core: CoreDep) -> SessionPublic:
    return SessionPublic.from_row(load_session(core, session_id))


@router.get("/{session_id}/bundles/{kind}", response_class=Response, responses=BUNDLE_RESPONSE)
def get_bundle(
    session_id: str,
    kind: Literal["terms", "input", "result", "delivery", "uftp", "readings", "netting"],
    bundles: BundlesDep,
) -> Response:
    """The published bundle, byte-exact; its keccak256 equals the on-chain hash or root."""
    content = bundles.get(session_id, kind)
    return Response(content, media_type="application/json")
