"""D-prognoses (FSP baselines), public like requests."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import Session, select

from clearing.messages import DPrognosis
from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.core import message_public
from market.store import models as m

router = APIRouter(tags=["prognoses"])


@router.post("/prognoses", status_code=201, responses=WRITE_RESPONSES)
async def create(env: Signed[DPrognosis], core: CoreDep, request: Request):
    """Post a D-prognosis (kind ``prognosis``; FSP, ``fsp`` must be the signer)."""
    return await submit_signed(core, "prognosis", request, env.body)


@router.get("/sessions/{session_id}/prognoses")
def list_prognoses(session_id: str, core: CoreDep) -> list[dict]:
    with Session(core.engine) as db:
        q = select(m.PrognosisRow).where(m.PrognosisRow.session_id == session_id)
        return [
            message_public(r.body_json, body_hash=r.body_hash, submitter=r.fsp)
            for r in db.exec(q.order_by(m.PrognosisRow.id))
        ]
