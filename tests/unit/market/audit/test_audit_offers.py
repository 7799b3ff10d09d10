"""The auditor's offer leaf is the service's, byte for byte (no drift between two copies)."""

from __future__ import annotations

import uuid

from clearing.merkle import StandardMerkleTree
from market.audit import offers as audit_offers


def test_offer_leaf_matches_the_service_definition() -> None:
    from market import bundles as service  # the service module imports the DB; tests may

    body = b'{"offer_id":"x","price_per_mwh":1}'
    oid = str(uuid.uuid4())
    assert audit_offers.OFFER_LEAF_ENCODING == service.OFFER_LEAF_ENCODING
    assert audit_offers.offer_leaf(oid, body) == service.offer_leaf(oid, body)
    pairs = [(str(uuid.uuid4()), bytes([i]) * 7) for i in range(5)]
    tree = StandardMerkleTree.of(
        [audit_offers.offer_leaf(o, b) for o, b in pairs], audit_offers.OFFER_LEAF_ENCODING
    )
    assert tree.root == service.offer_tree(pairs).root
