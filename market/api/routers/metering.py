"""Meter readings and settlements."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query, Request
from sqlmodel import Session, select

from market.api.deps import CoreDep, SignedInDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import MeterReadingCreate, Signed
from market.errors import Forbidden
from market.store import models as m

router = APIRouter(tags=["metering"])


@router.post("/meter-readings", status_code=201, responses=WRITE_RESPONSES)
async def post_reading(env: Signed[MeterReadingCreate], core: CoreDep, request: Request):
    """Record a meter reading (kind ``meter_reading``; meter oracle or operator)."""
    return await submit_signed(core, "meter_reading", request, env.body)


@router.get("/meter-readings")
def list_readings(
    core: CoreDep,
    station_id: str | None = None,
    since: int = Query(0, ge=0, lt=2**40),
    until: int = Query(2**40 - 1, ge=0, lt=2**40),
    limit: int = Query(1000, ge=1, le=10000),
) -> list[dict]:
    with Session(core.engine) as db:
        q = select(m.MeterReading).where(
            m.MeterReading.timestamp >= since, m.MeterReading.timestamp <= until
        )
        if station_id:
            q = q.where(m.MeterReading.station_id == station_id)
        q = q.order_by(m.MeterReading.timestamp, m.MeterReading.id).limit(limit)
        return [r.model_dump() for r in db.exec(q)]


@router.get("/sessions/{session_id}/settlements", responses={401: {}, 403: {}})
def list_settlements(
    session_id: str, core: CoreDep, reader: SignedInDep, fsp: str | None = None
) -> list[dict]:
    """Your statements (SIWE token); the operator sees everyone's."""
    if not core.is_operator(reader):
        if fsp is not None and fsp.lower() != reader:
            raise Forbidden("statements are private to their FSP", field="fsp")
        fsp = reader
    with Session(core.engine) as db:
        q = select(m.Settlement).where(m.Settlement.session_id == session_id)
        if fsp:
            q = q.where(m.Settlement.fsp == fsp.lower())
        return [
            {**json.loads(r.body_json), "payout_units": r.payout_units}
            for r in db.exec(q.order_by(m.Settlement.id))
        ]
