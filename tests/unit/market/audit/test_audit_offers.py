"""The offer-commitment leaf: one definition in clearing, checked against a hand-built tree."""

from __future__ import annotations

from clearing.commitments import OFFER_LEAF_ENCODING, offer_leaf, offer_tree
from clearing.encoding import keccak256, uuid_to_bytes32
from clearing.merkle import StandardMerkleTree, verify_proof


def test_offer_leaf_is_uuid_hash_and_body_hash() -> None:
    oid = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    body = b'{"offer_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7"}'
    assert offer_leaf(oid, body) == (uuid_to_bytes32(oid), keccak256(body))


def test_offer_tree_root_and_proofs_match_a_hand_built_tree() -> None:
    pairs = [
        ("7c9e6679-7425-40de-944b-e07fc1f90ae7", b"a"),
        ("0b7f2d5c-3c38-4d7e-9a3b-2f1e5a6b7c8d", b"b"),
        ("1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", b"c"),
    ]
    tree = offer_tree(pairs)
    manual = StandardMerkleTree.of([offer_leaf(o, b) for o, b in pairs], OFFER_LEAF_ENCODING)
    assert tree.root == manual.root
    for i, (oid, body) in enumerate(pairs):
        assert verify_proof(tree.root, OFFER_LEAF_ENCODING, offer_leaf(oid, body), tree.proof(i))
