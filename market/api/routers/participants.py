"""Participants: roles come from the chain, names and codes from the participant itself."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import Session, select

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import ParticipantCreate, Signed
from market.core import participant_public
from market.errors import NotFound
from market.store import models as m

router = APIRouter(prefix="/participants", tags=["participants"])


@router.post("", status_code=201, responses=WRITE_RESPONSES)
async def register(env: Signed[ParticipantCreate], core: CoreDep, request: Request):
    """Describe yourself (kind ``participant``); your roles are read from the chain."""
    return await submit_signed(core, "participant", request, env.body)


@router.get("")
def list_participants(core: CoreDep) -> list[dict]:
    with Session(core.engine) as db:
        rows = db.exec(select(m.Participant).order_by(m.Participant.address))
        return [participant_public(r) for r in rows]


@router.get("/{address}")
def get_participant(address: str, core: CoreDep) -> dict:
    with Session(core.engine) as db:
        row = db.get(m.Participant, address.lower())
    if row is None:
        raise NotFound(f"no participant {address}", field="address")
    return participant_public(row)
