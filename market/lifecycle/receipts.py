"""The close step's offer receipts: per offer, its inclusion proof in its FSP's committed root.

Why set-based: at gate closure every offer of the session gets its receipt at once (1 000 in
``bench intraday``). One ORM ``get`` (with its autoflush) per offer and a leaf re-encoded per
receipt cost seconds there; one read, the tree's own leaf hashes and one ``executemany`` per
kind of write give the same rows in milliseconds.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from eth_utils.address import to_checksum_address
from sqlalchemy import bindparam, insert, select, update

from clearing.encoding import hex32
from market.bundles import offer_tree
from market.lifecycle.context import StepContext
from market.store import models as m

log = logging.getLogger(__name__)

_OFFER = m.OfferRow.__table__  # type: ignore[attr-defined]
_RECEIPT = m.OfferReceipt.__table__  # type: ignore[attr-defined]
#: An existing receipt is rewritten in place (a close step re-run after a crash).
_REWRITE = (
    update(_RECEIPT)
    .where(_RECEIPT.c.offer_id == bindparam("b_offer_id"))
    .values(
        root=bindparam("b_root"),
        leaf_hash=bindparam("b_leaf_hash"),
        proof_json=bindparam("b_proof_json"),
        included=bindparam("b_included"),
    )
)


def build_receipts(w: StepContext, s: m.MarketSession) -> tuple[int, float]:
    """Store an inclusion proof per offer; offers of an FSP whose tree differs are excluded.
    Returns how many offers are included, and the seconds spent reading committed roots."""
    with w.engine.connect() as conn:
        offers = conn.execute(
            select(_OFFER.c.id, _OFFER.c.fsp, _OFFER.c.body_json)
            .where(_OFFER.c.session_id == s.id)
            .order_by(_OFFER.c.id)
        ).all()
        held = set(
            conn.execute(
                select(_RECEIPT.c.offer_id).where(
                    _RECEIPT.c.offer_id.in_(select(_OFFER.c.id).where(_OFFER.c.session_id == s.id))
                )
            ).scalars()
        )
        by_fsp: dict[str, list[tuple[str, str]]] = {}
        for offer_id, fsp, body in offers:
            by_fsp.setdefault(fsp, []).append((offer_id, body))
        new: list[dict[str, Any]] = []
        rewrite: list[dict[str, Any]] = []
        total, read_s = 0, 0.0
        for fsp, rows in by_fsp.items():
            tree = offer_tree((offer_id, body.encode()) for offer_id, body in rows)
            t_read = time.perf_counter()
            committed = w.ledger.offer_root(s.id, to_checksum_address(fsp))
            read_s += time.perf_counter() - t_read
            ok = committed == tree.root  # the root fixes every leaf, hence the count too
            if not ok:
                log.warning(
                    "session %s: FSP %s committed root %s but its %d stored offers give %s; "
                    "its offers are excluded",
                    s.id,
                    fsp,
                    hex32(committed),
                    len(rows),
                    hex32(tree.root),
                )
            root = hex32(tree.root)
            for i, (offer_id, _) in enumerate(rows):
                leaf = hex32(tree.leaf_at(i))
                proof = json.dumps([hex32(p) for p in tree.proof(i)])
                if offer_id in held:
                    rewrite.append(
                        {
                            "b_offer_id": offer_id,
                            "b_root": root,
                            "b_leaf_hash": leaf,
                            "b_proof_json": proof,
                            "b_included": ok,
                        }
                    )
                else:
                    new.append(
                        {
                            "offer_id": offer_id,
                            "session_id": s.id,
                            "fsp": fsp,
                            "root": root,
                            "leaf_hash": leaf,
                            "proof_json": proof,
                            "included": ok,
                        }
                    )
            total += len(rows) if ok else 0
        if new:
            conn.execute(insert(_RECEIPT), new)
        if rewrite:
            conn.execute(_REWRITE, rewrite)
        conn.commit()
    return total, read_s
