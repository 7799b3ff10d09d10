"""FlexOffers: private to the submitting FSP and the operator until gate closure."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from clearing.messages import FlexOffer
from market.api.deps import CoreDep, ReaderDep, SignedInDep
from market.api.routers._offer_proof import proof_rows
from market.api.routers._write import WRITE_RESPONSES, refuse_nul, submit_signed
from market.api.routers.sessions import load_session
from market.api.schemas import Signed
from market.store import models as m
from market.store.models import OfferPublic, OfferReceiptPublic
from market.store.models.signed_message import message_public
from market.uftp.proof import OfferProof

router = APIRouter(tags=["offers"])


def _public(r: m.OfferRow) -> dict[str, Any]:
    return message_public(r.body_json, body_hash=r.body_hash, submitter=r.fsp)


class SignedOffer(Signed[FlexOffer]):
    """The signed envelope and, for an offer made from a UFTP FlexOffer, its ``proof``."""

    proof: OfferProof | None = None


@router.post("/offers", status_code=201, response_model=OfferPublic, responses=WRITE_RESPONSES)
async def create(env: SignedOffer, core: CoreDep, request: Request) -> Response:
    """Submit an offer (kind ``offer``; FSP, ``fsp`` must be the signer), before gate closure.

    ``proof`` (optional): the AGR's Ed25519-signed UFTP FlexOffer and its key's binding; it
    must prove exactly this offer, is stored with it and published in the ``uftp`` bundle."""
    if env.proof is None:
        return await submit_signed(core, "offer", request, env.body)
    raw = await request.json()
    raw.pop("proof", None)
    refuse_nul(raw)
    extra = await run_in_threadpool(proof_rows, core, env.body, env.proof)
    result = await run_in_threadpool(core.submit, "offer", raw, body=env.body, extra_rows=extra)
    headers = {"Idempotent-Replay": "true"} if result.replayed else None
    return Response(
        result.json_text, status_code=result.status, headers=headers, media_type="application/json"
    )


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
