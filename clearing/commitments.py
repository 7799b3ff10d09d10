"""The offer commitment an FSP posts on-chain at gate closure: one Merkle root per offer set.

Leaf = ``(bytes32 keccak256(offer uuid bytes), bytes32 keccak256(canonical offer JSON))`` in an
OpenZeppelin StandardMerkleTree. One definition, shared by the service (receipts, bundles), the
client (what an FSP commits), the chain demo and the auditor, so they can never drift apart.
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
