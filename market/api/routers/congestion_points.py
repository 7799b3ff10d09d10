"""Congestion points and their hierarchy."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.errors import NotFound
from market.store import models as m
from market.store.models import CongestionPointCreate, CongestionPointPublic

router = APIRouter(prefix="/congestion-points", tags=["congestion-points"])


@router.post("", status_code=201, response_model=CongestionPointPublic, responses=WRITE_RESPONSES)
async def create(env: Signed[CongestionPointCreate], core: CoreDep, request: Request) -> Response:
    """Register a congestion point (kind ``congestion_point``; operator or DSO)."""
    return await submit_signed(core, "congestion_point", request, env.body)


@router.get("", response_model=list[CongestionPointPublic])
def list_points(core: CoreDep) -> list[CongestionPointPublic]:
    with Session(core.engine) as db:
        rows = db.exec(select(m.CongestionPoint).order_by(col(m.CongestionPoint.code)))
        return [CongestionPointPublic.model_validate(r.model_dump()) for r in rows]


@router.get("/{code}", response_model=CongestionPointPublic, responses={404: {}})
def get_point(code: str, core: CoreDep) -> CongestionPointPublic:
    with Session(core.engine) as db:
        row = db.get(m.CongestionPoint, code)
    if row is None:
        raise NotFound(f"no congestion point {code}", field="code")
    return CongestionPointPublic.model_validate(row.model_dump())
