"""FSP-signed commitments relayed by the operator: the digest an FSP signs locally is the
contract's, the relayed commitment is the signer's, and the operator cannot alter it."""

from __future__ import annotations

import dataclasses

import pytest

from adapters.chain.commitment_sig import commitment_digest
from adapters.chain.deploy import MarketContracts
from adapters.chain.errors import ChainError
from clearing.encoding import keccak256

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT, PROG, PORT = keccak256(b"root"), keccak256(b"prognosis"), keccak256(b"portfolio")


def _open_session(deployment: MarketContracts, parties, anvil_node, tag: bytes) -> bytes:
    now = anvil_node.block_timestamp()
    sid = keccak256(b"sig-session" + tag + now.to_bytes(8, "big"))
    deployment.market.create_session(
        sid, now + 3600, now + 3600, now + 7200, 900, 3600, keccak256(b"t"), sender=parties.operator
    )
    return sid


def test_local_digest_equals_the_contracts(deployment: MarketContracts) -> None:
    market = deployment.market
    sid = keccak256(b"any session")
    local = commitment_digest(market.client.chain_id, market.address, sid, ROOT, 7, PROG, PORT)
    assert local == market.commitment_digest(sid, ROOT, 7, PROG, PORT)
    assert local != market.commitment_digest(sid, ROOT, 8, PROG, PORT)  # every field is bound


def test_relayed_commitment_is_the_signers_and_cannot_be_altered(
    deployment: MarketContracts, parties, anvil_node
) -> None:
    market = deployment.market
    fsp, other = parties.fsps[0], parties.fsps[1]
    sid = _open_session(deployment, parties, anvil_node, b"a")
    signed = market.sign_commitment(sid, ROOT, 3, PROG, PORT, fsp)
    # the operator swaps the portfolio hash: the signature no longer recovers to an FSP
    forged = dataclasses.replace(signed, portfolio_hash=keccak256(b"operator's meters"))
    with pytest.raises(ChainError, match="FlexMarketBadCommitmentSignature"):
        market.commit_offers_by_sig(sid, [forged], sender=parties.operator)
    market.commit_offers_by_sig(
        sid,
        [signed, market.sign_commitment(sid, ROOT, 1, PROG, PORT, other)],
        sender=parties.operator,
    )
    got = market.offer_commitment(sid, fsp)
    assert (got.root, got.count, got.prognosis_hash, got.portfolio_hash) == (ROOT, 3, PROG, PORT)
    assert got.committed_at > 0
    assert market.has_committed(sid, other)
    # once per session: neither a replayed signature nor the FSP itself can change it
    with pytest.raises(ChainError, match="FlexMarketAlreadyCommitted"):
        market.commit_offers_by_sig(sid, [signed], sender=parties.operator)
    with pytest.raises(ChainError, match="FlexMarketAlreadyCommitted"):
        market.commit_offers(sid, keccak256(b"new root"), 3, PROG, PORT, sender=fsp)
