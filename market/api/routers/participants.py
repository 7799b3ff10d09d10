"""Participants: roles come from the chain, names and codes from the participant itself."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.errors import NotFound
from market.store import models as m
from market.store.models import ParticipantCreate, ParticipantPublic

router = APIRouter(prefix="/participants", tags=["participants"])


@router.post("", status_code=201, response_model=ParticipantPublic, responses=WRITE_RESPONSES)
async def register(env: Signed[ParticipantCreate], core: CoreDep, request: Request) -> Response:
    """Describe yourself (kind ``participant``); your roles are read from the chain."""
    return await submit_signed(core, "participant", request, env.body)


@router.get("", response_model=list[ParticipantPublic])
def list_participants(core: CoreDep) -> list[ParticipantPublic]:
    with Session(core.engine) as db:
        rows = db.exec(select(m.Participant).order_by(col(m.Participant.address)))
        return [ParticipantPublic.from_row(r) for r in rows]


@router.get("/{address}", response_model=ParticipantPublic, responses={404: {}})
def get_participant(address: str, core: CoreDep) -> ParticipantPublic:
    with Session(core.engine) as db:
        row = db.get(m.Participant, address.lower())
    if row is None:
        raise NotFound(f"no participant {address}", field="address")
    return ParticipantPublic.from_row(row)
