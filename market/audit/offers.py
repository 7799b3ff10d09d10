"""The offer-commitment leaf an FSP commits on-chain, rebuilt from the published offers.

The market service defines the leaf in ``market/bundles.py`` (``offer_leaf``): ``(bytes32
keccak256(offer uuid bytes), bytes32 keccak256(canonical offer JSON))`` in an OpenZeppelin
StandardMerkleTree. That module imports the service database, which the auditor must not, so
the leaf is composed here from the same ``clearing`` primitives; a unit test asserts it equals
the service's function byte for byte (move ``offer_leaf`` into ``clearing/`` to share one copy).
"""

from __future__ import annotations

from collections.abc import Iterable

from clearing.encoding import keccak256, uuid_to_bytes32
from clearing.merkle import StandardMerkleTree
from clearing.messages import FlexOffer

OFFER_LEAF_ENCODING = ("bytes32", "bytes32")


def offer_leaf(offer_id: str, canonical_body: bytes) -> tuple[bytes, bytes]:
    """Leaf of one offer in its FSP's commitment."""
    return (uuid_to_bytes32(offer_id), keccak256(canonical_body))


def offers_root(offers: Iterable[FlexOffer]) -> bytes:
    """Root of an FSP's offer set (the all-zero root for no offers)."""
    leaves = [offer_leaf(o.offer_id, o.to_canonical()) for o in offers]
    if not leaves:
        return bytes(32)
    return StandardMerkleTree.of(leaves, OFFER_LEAF_ENCODING).root
