"""D-prognoses (FSP baselines), public like requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from clearing.messages import DPrognosis
from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.store import models as m
from market.store.models import PrognosisPublic
from market.store.models.signed_message import message_public

router = APIRouter(tags=["prognoses"])


@router.post(
    "/prognoses", status_code=201, response_model=PrognosisPublic, responses=WRITE_RESPONSES
)
async def create(env: Signed[DPrognosis], core: CoreDep, request: Request) -> Response:
    """Post a D-prognosis (kind ``prognosis``; FSP, ``fsp`` must be the signer)."""
    return await submit_signed(core, "prognosis", request, env.body)


@router.get("/sessions/{session_id}/prognoses", response_model=list[PrognosisPublic])
def list_prognoses(session_id: str, core: CoreDep) -> list[dict[str, Any]]:
    with Session(core.engine) as db:
        q = select(m.PrognosisRow).where(m.PrognosisRow.session_id == session_id)
        return [
            message_public(r.body_json, body_hash=r.body_hash, submitter=r.fsp)
            for r in db.exec(q.order_by(col(m.PrognosisRow.id)))
        ]
