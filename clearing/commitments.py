"""The commitment an FSP posts on-chain before gate closure: one Merkle root per offer set,
plus the hash of its prognosis and portfolio (``data_hash``).

Leaf = ``(bytes32 keccak256(offer uuid bytes), bytes32 keccak256(canonical offer JSON))`` in an
OpenZeppelin StandardMerkleTree. One definition, shared by the service (receipts, bundles), the
client (what an FSP commits), the chain demo and the auditor, so they can never drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from clearing.encoding import canonical_json, keccak256, uuid_to_bytes32
from clearing.merkle import StandardMerkleTree
from clearing.messages import DPrognosis, FlexOffer
from clearing.settlement.report import Portfolio

OFFER_LEAF_ENCODING = ("bytes32", "bytes32")


def offer_leaf(offer_id: str, canonical_body: bytes) -> tuple[bytes, bytes]:
    """Leaf of one offer in its FSP's commitment."""
    return (uuid_to_bytes32(offer_id), keccak256(canonical_body))


def offer_tree(offers: Iterable[tuple[str, bytes]]) -> StandardMerkleTree:
    """StandardMerkleTree over (offer_id, canonical body bytes) pairs, in the given order."""
    leaves = [offer_leaf(offer_id, body) for offer_id, body in offers]
    return StandardMerkleTree.of(leaves, OFFER_LEAF_ENCODING)


def offers_root(offers: Iterable[FlexOffer]) -> bytes:
    """Root of an FSP's offer set (the all-zero root for no offers)."""
    pairs = [(o.offer_id, o.to_canonical()) for o in offers]
    if not pairs:
        return bytes(32)
    return offer_tree(pairs).root


# ---- what an FSP binds next to its offers: its prognosis and its portfolio --------------------
#
# Why: delivery is measured against the FSP's baseline (its DPrognosis) on the meters of its
# portfolio. If either were only in the operator's bundles, an operator could swap a baseline or
# a meter after seeing the orders. The FSP commits both with its offers (OffersCommitted's
# prognosisHash and portfolioHash); the delivery bundle must carry exactly these preimages.


def prognosis_hash(prognoses: Iterable[DPrognosis]) -> bytes:
    """keccak256 of the canonical JSON list of one FSP's prognoses for a session, sorted by
    (congestion point, prognosis id); an empty list hashes too (the FSP nominated none)."""
    docs = sorted(
        (p.model_dump(mode="json") for p in prognoses),
        key=lambda d: (d["congestion_point"], d["prognosis_id"]),
    )
    return keccak256(canonical_json(docs))


def portfolio_hash(portfolios: Iterable[Portfolio]) -> bytes:
    """keccak256 of the canonical JSON list of one FSP's portfolios (congestion point and its
    meters, each list sorted): which meters count for the FSP at which congestion point."""
    docs = [
        {
            "congestion_point": p.congestion_point,
            "meters": [
                {"station": station, "evse": evse}
                for station, evse in sorted((m.station, m.evse) for m in p.meters)
            ],
        }
        for p in sorted(portfolios, key=lambda p: p.congestion_point)
    ]
    return keccak256(canonical_json(docs))


def own_prognoses(prognoses: Iterable[DPrognosis], fsp: str) -> list[DPrognosis]:
    """The prognoses delivery is measured against for ``fsp``: its first one per congestion
    point, in the given (publication) order, as the service's verification picks them."""
    first: dict[str, DPrognosis] = {}
    for p in prognoses:
        if p.fsp.lower() == fsp.lower():
            first.setdefault(p.congestion_point, p)
    return list(first.values())


def own_portfolios(portfolios: Iterable[Portfolio], fsp: str) -> list[Portfolio]:
    """``fsp``'s portfolios among everyone's."""
    return [p for p in portfolios if p.fsp.lower() == fsp.lower()]
