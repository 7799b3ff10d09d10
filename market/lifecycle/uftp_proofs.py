"""Publishes the ``uftp`` bundle at clearing: the proofs of the UFTP offers in the input bundle.

Only a session with such offers gets one, so every other session's bundles are unchanged.
"""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from market.bundles import BundleStore
from market.store import models as m
from market.uftp.proof import OfferProof, proofs_bundle


def publish_offer_proofs(
    engine: Engine, bundles: BundleStore, session_id: str, input_bytes: bytes
) -> bool:
    """Publish the proofs of the offers the input bundle holds; False when there are none."""
    with Session(engine) as db:
        q = select(m.UftpOfferProof).where(m.UftpOfferProof.session_id == session_id)
        rows = list(db.exec(q.order_by(col(m.UftpOfferProof.offer_id))))
    if not rows:
        return False
    held = {str(o["offer_id"]) for o in json.loads(input_bytes).get("offers", [])}
    proofs = [
        (r.offer_id, OfferProof.model_validate_json(r.proof_json))
        for r in rows
        if r.offer_id in held
    ]
    if not proofs:
        return False
    bundles.publish(session_id, "uftp", proofs_bundle(session_id, proofs))
    return True
