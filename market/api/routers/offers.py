"""FlexOffers: private to the submitting FSP and the operator until gate closure."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from clearing.messages import FlexOffer
from market.api.deps import CoreDep, ReaderDep, SignedInDep
from market.api.routers._write import WRITE_RESPONSES, submit_signed
from market.api.routers.sessions import load_session
from market.api.schemas import Signed
from market.store import models as m
from market.store.models import OfferPublic, OfferReceiptPublic
from market.store.models.signed_message import message_public

router = APIRouter(tags=["offers"])


def _public(r: m.OfferRow) -> dict[str, Any]:
    return message_public(r.body_json, body_hash=r.body_hash, submitter=r.fsp)


@router.post("/offers", status_code=201, response_model=OfferPublic, responses=WRITE_RESPONSES)
async def create(env: Signed[FlexOffer], core: CoreDep, request: Request) -> Response:
    """Submit an offer (kind ``offer``; FSP, ``fsp`` must be the signer), before gate closure."""
    return await submit_signed(core, "offer", request, env.body)


@router.get(
    "/sessions/{session_id}/offers",
    response_model=list[OfferPublic],
    responses={401: {}, 403: {}, 404: {}},
)
def list_offers(
    session_id: str, core: CoreDep, reader: ReaderDep, fsp: str | None = None
) -> list[dict[str, Any]]:
    """Before gate closure: your own offers only (SIWE token); afterwards: everyone's."""
    session = load_session(core, session_id)
    return [_public(r) for r in core.offers_visible(session, reader=reader, fsp=fsp)]


@router.get("/offers/{offer_id}", response_model=OfferPublic, responses={401: {}, 403: {}, 404: {}})
def get_offer(offer_id: str, core: CoreDep, reader: ReaderDep) -> dict[str, Any]:
    return _public(core.offer_visible(offer_id, reader=reader))


@router.get(
    "/sessions/{session_id}/receipts",
    response_model=list[OfferReceiptPublic],
    responses={401: {}, 404: {}},
)
def my_receipts(session_id: str, core: CoreDep, reader: SignedInDep) -> list[OfferReceiptPublic]:
    """Inclusion proofs of your offers in your on-chain commitment (after gate closure)."""
    load_session(core, session_id)
    with Session(core.engine) as db:
        q = select(m.OfferReceipt).where(
            m.OfferReceipt.session_id == session_id, m.OfferReceipt.fsp == reader
        )
        rows = db.exec(q.order_by(col(m.OfferReceipt.offer_id)))
        return [OfferReceiptPublic.from_row(r) for r in rows]
