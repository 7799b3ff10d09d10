"""Congestion points and their hierarchy."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import Session, select

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import CongestionPointCreate, Signed
from market.errors import NotFound
from market.store import models as m

router = APIRouter(prefix="/congestion-points", tags=["congestion-points"])


@router.post("", status_code=201, responses=WRITE_RESPONSES)
async def create(env: Signed[CongestionPointCreate], core: CoreDep, request: Request):
    """Register a congestion point (kind ``congestion_point``; operator or DSO)."""
    return await submit_signed(core, "congestion_point", request, env.body)


@router.get("")
def list_points(core: CoreDep) -> list[dict]:
    with Session(core.engine) as db:
        return [
            r.model_dump()
            for r in db.exec(select(m.CongestionPoint).order_by(m.CongestionPoint.code))
        ]


@router.get("/{code}")
def get_point(code: str, core: CoreDep) -> dict:
    with Session(core.engine) as db:
        row = db.get(m.CongestionPoint, code)
    if row is None:
        raise NotFound(f"no congestion point {code}", field="code")
    return row.model_dump()
