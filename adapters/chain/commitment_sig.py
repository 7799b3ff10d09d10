"""The EIP-712 commitment an FSP signs so the operator can relay it (``commitOffersBySig``).

Why here and computed locally: the FSP must know what it signs without asking the contract;
``FlexMarket.commitmentDigest`` computes the same digest on-chain (a test holds the two
together). The signature is EIP-2098 compact (r, vs), 64 bytes of calldata.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
COMMITMENT_TYPEHASH = keccak(
    text="Commitment(bytes32 sessionId,bytes32 offersRoot,uint32 offerCount,"
    "bytes32 prognosisHash,bytes32 portfolioHash)"
)
NAME_HASH = keccak(text="FlexMarket")
VERSION_HASH = keccak(text="1")


@dataclass(frozen=True)
class SignedCommitment:
    """One FSP's commitment plus its compact signature, in the contract's struct order."""

    offers_root: bytes
    prognosis_hash: bytes
    portfolio_hash: bytes
    offer_count: int
    r: bytes
    vs: bytes

    def as_abi(self) -> tuple[bytes, bytes, bytes, int, bytes, bytes]:
        return (
            self.offers_root,
            self.prognosis_hash,
            self.portfolio_hash,
            self.offer_count,
            self.r,
            self.vs,
        )


def domain_separator(chain_id: int, market: str) -> bytes:
    """The FlexMarket EIP-712 domain (name "FlexMarket", version "1") of one deployment."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain_id, to_checksum_address(market)],
        )
    )


def commitment_digest(
    chain_id: int,
    market: str,
    session_id: bytes,
    offers_root: bytes,
    offer_count: int,
    prognosis_hash: bytes,
    portfolio_hash: bytes,
) -> bytes:
    """EIP-712 digest of Commitment(sessionId, offersRoot, offerCount, prognosisHash,
    portfolioHash)."""
    domain = domain_separator(chain_id, market)
    struct = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint32", "bytes32", "bytes32"],
            [
                COMMITMENT_TYPEHASH,
                session_id,
                offers_root,
                offer_count,
                prognosis_hash,
                portfolio_hash,
            ],
        )
    )
    return keccak(b"\x19\x01" + domain + struct)


def compact(signature: bytes) -> tuple[bytes, bytes]:
    """A 65-byte (r, s, v) signature as EIP-2098 (r, vs)."""
    if len(signature) != 65:
        raise ValueError(f"signature: {len(signature)} bytes, expected 65")
    r, s, v = signature[:32], signature[32:64], signature[64]
    y_parity = v - 27 if v >= 27 else v
    if y_parity not in (0, 1):
        raise ValueError(f"signature: v={v} is not 0, 1, 27 or 28")
    vs = (int.from_bytes(s, "big") | (y_parity << 255)).to_bytes(32, "big")
    return r, vs
