"""Assets (charger EVSEs) of FSPs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import Signed
from market.errors import NotFound
from market.store import models as m
from market.store.models import AssetCreate, AssetPublic

router = APIRouter(prefix="/assets", tags=["assets"])


@router.post("", status_code=201, response_model=AssetPublic, responses=WRITE_RESPONSES)
async def create(env: Signed[AssetCreate], core: CoreDep, request: Request) -> Response:
    """Register an asset you control (kind ``asset``; FSP)."""
    return await submit_signed(core, "asset", request, env.body)


@router.get("", response_model=list[AssetPublic])
def list_assets(
    core: CoreDep, owner: str | None = None, congestion_point: str | None = None
) -> list[AssetPublic]:
    with Session(core.engine) as db:
        q = select(m.Asset)
        if owner:
            q = q.where(m.Asset.owner == owner.lower())
        if congestion_point:
            q = q.where(m.Asset.congestion_point == congestion_point)
        return [AssetPublic.from_row(r) for r in db.exec(q.order_by(col(m.Asset.id)))]


@router.get("/{asset_id}", response_model=AssetPublic, responses={404: {}})
def get_asset(asset_id: str, core: CoreDep) -> AssetPublic:
    with Session(core.engine) as db:
        row = db.get(m.Asset, asset_id)
    if row is None:
        raise NotFound(f"no asset {asset_id}", field="asset_id")
    return AssetPublic.from_row(row)
