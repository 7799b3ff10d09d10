"""The market's check of a UFTP offer proof before the offer is stored (``POST /offers``).

Why here and not in the core: the proof sits beside the signed envelope, not in its body, so
the core's generic pipeline stays the same; the proof's row goes into the offer's transaction.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from clearing.messages import FlexOffer, FlexRequest
from market.api.routers.sessions import load_session
from market.core import MarketCore
from market.errors import InvalidMessage
from market.store import models as m
from market.uftp.convert import Window
from market.uftp.proof import OfferProof, check_proof, time_zone_of


def proof_rows(
    core: MarketCore, offer: FlexOffer, proof: OfferProof
) -> list[tuple[Any, dict[str, Any]]]:
    """The proof's row, or a 422 naming the ``proof`` field that does not prove the offer."""
    if offer.request_id is None:
        raise InvalidMessage("a UFTP FlexOffer answers a FlexRequest", field="body.request_id")
    session = load_session(core, offer.session_id)
    with Session(core.engine) as db:
        row = db.get(m.FlexRequestRow, offer.request_id)
    if row is None or row.session_id != offer.session_id:
        raise InvalidMessage(
            f"no request {offer.request_id} in this session", field="body.request_id"
        )
    time_zone = time_zone_of(proof)
    window = Window(
        session_id=session.id,
        delivery_start=session.delivery_start,
        delivery_end=session.delivery_end,
        isp_s=session.isp_s,
        gate_closure=session.gate_closure,
        time_zone=time_zone or "UTC",
    )
    refused = check_proof(
        proof,
        offer,
        request=FlexRequest.model_validate_json(row.body_json),
        window=window,
        chain_id=core.domain.chain_id,
        market=core.domain.verifying_contract,
    )
    if refused is not None:
        raise InvalidMessage(refused.reason, field=f"proof.{refused.field}")
    values = {
        "offer_id": offer.offer_id,
        "session_id": offer.session_id,
        "proof_json": proof.model_dump_json(),
    }
    return [(m.UftpOfferProof, values)]
