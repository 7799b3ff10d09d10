"""Stations' OCPP status: an FSP's gateway reports what its CSMS sees (signed, own stations
only), and anyone reads the latest per station (the ``/fsp`` desk shows it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.core.stations import latest_station_status
from market.store.models import (
    StationStatusAccepted,
    StationStatusCreate,
    StationStatusPublic,
)

router = APIRouter(tags=["assets"])


@router.post(
    "/station-status",
    status_code=201,
    response_model=StationStatusAccepted,
    responses=WRITE_RESPONSES,
)
async def report_station_status(
    env: Signed[StationStatusCreate], core: CoreDep, request: Request
) -> Response:
    """Report stations' OCPP status (kind ``station_status``; FSP, stations it registered):
    connected, last seen, last setpoint. A station not the signer's is refused 403."""
    return await submit_signed(core, "station_status", request, env.body)


@router.get("/station-status", response_model=list[StationStatusPublic])
async def list_station_status(
    core: CoreDep,
    fsp: Annotated[str | None, Query(max_length=42, pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> list[StationStatusPublic]:
    """The latest reported status of each station (of one FSP with ``fsp``)."""
    return await run_in_threadpool(latest_station_status, core.engine, fsp)
