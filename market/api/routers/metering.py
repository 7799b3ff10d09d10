"""Meter readings and settlements."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session, col, select

from clearing.encoding import hex32, uuid_to_bytes32
from market.api.deps import CoreDep, SignedInDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.routers.sessions import load_session
from market.api.schemas import Signed
from market.errors import Forbidden
from market.store import models as m
from market.store.models import MeterReadingCreate, MeterReadingPublic, SettlementPublic

router = APIRouter(tags=["metering"])


@router.post(
    "/meter-readings",
    status_code=201,
    response_model=MeterReadingPublic,
    responses=WRITE_RESPONSES,
)
async def post_reading(
    env: Signed[MeterReadingCreate], core: CoreDep, request: Request
) -> Response:
    """Record a station-signed meter reading (kind ``meter_reading``; meter oracle, operator,
    or the FSP owning the EVSE). Refused (nothing stored): unsigned, not signed by the
    station's registered meter key, outside the poster's portfolio, future-dated, outside every
    session's delivery window, or other registers than the stored reading at that time (409).
    The same reading again gets the same answer and is stored once."""
    return await submit_signed(core, "meter_reading", request, env.body)


@router.get("/meter-readings", response_model=list[MeterReadingPublic])
def list_readings(
    core: CoreDep,
    station_id: str | None = None,
    since: int = Query(0, ge=0, lt=2**40),
    until: int = Query(2**40 - 1, ge=0, lt=2**40),
    limit: int = Query(1000, ge=1, le=10000),
) -> list[MeterReadingPublic]:
    reading = m.MeterReading
    with Session(core.engine) as db:
        q = select(reading).where(reading.timestamp >= since, reading.timestamp <= until)
        if station_id:
            q = q.where(reading.station_id == station_id)
        q = q.order_by(reading.timestamp, reading.id).limit(limit)
        return [MeterReadingPublic.from_row(r) for r in db.exec(q)]


@router.get(
    "/sessions/{session_id}/settlements",
    response_model=list[SettlementPublic],
    responses={401: {}, 403: {}, 404: {}},
)
def list_settlements(
    session_id: str, core: CoreDep, reader: SignedInDep, fsp: str | None = None
) -> list[dict[str, Any]]:
    """Your statements (SIWE token): an FSP its own, a DSO those of its requests (the
    reservation statements: reserved and paid per FSP); the operator sees everyone's. An
    unknown session is 404. The DSO's statement with transactions: ``GET /dso-statements``."""
    load_session(core, session_id)
    dso_requests: set[str] = set()
    if not core.is_operator(reader):
        if fsp is not None and fsp.lower() != reader:
            raise Forbidden("statements are private to their FSP", field="fsp")
        fsp = reader
        with Session(core.engine) as db:
            q_req = select(m.FlexRequestRow.id).where(
                m.FlexRequestRow.session_id == session_id, m.FlexRequestRow.dso == reader
            )
            dso_requests = {hex32(uuid_to_bytes32(rid)) for rid in db.exec(q_req)}
    with Session(core.engine) as db:
        q = select(m.Settlement).where(m.Settlement.session_id == session_id)
        if fsp and not dso_requests:
            q = q.where(m.Settlement.fsp == fsp.lower())
        rows = list(db.exec(q.order_by(col(m.Settlement.id))))
        if dso_requests:  # own FSP rows (if any) and the reservation rows of own requests
            rows = [
                r
                for r in rows
                if r.fsp == reader
                or json.loads(r.body_json).get("request_id_onchain") in dso_requests
            ]
    return [{**json.loads(r.body_json), "payout_units": r.payout_units} for r in rows]
