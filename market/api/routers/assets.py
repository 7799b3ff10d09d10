"""Assets (charger EVSEs) of FSPs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import Session, select

from market.api.deps import CoreDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.schemas import AssetCreate, Signed
from market.core import asset_public
from market.errors import NotFound
from market.store import models as m

router = APIRouter(prefix="/assets", tags=["assets"])


@router.post("", status_code=201, responses=WRITE_RESPONSES)
async def create(env: Signed[AssetCreate], core: CoreDep, request: Request):
    """Register an asset you control (kind ``asset``; FSP)."""
    return await submit_signed(core, "asset", request, env.body)


@router.get("")
def list_assets(core: CoreDep, owner: str | None = None, congestion_point: str | None = None):
    with Session(core.engine) as db:
        q = select(m.Asset)
        if owner:
            q = q.where(m.Asset.owner == owner.lower())
        if congestion_point:
            q = q.where(m.Asset.congestion_point == congestion_point)
        return [asset_public(r) for r in db.exec(q.order_by(m.Asset.id))]


@router.get("/{asset_id}")
def get_asset(asset_id: str, core: CoreDep) -> dict:
    with Session(core.engine) as db:
        row = db.get(m.Asset, asset_id)
    if row is None:
        raise NotFound(f"no asset {asset_id}", field="asset_id")
    return asset_public(row)
