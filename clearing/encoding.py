"""On-chain ids of off-chain identifiers, and the canonical encoding re-exported for callers.

The canonical JSON and keccak256 themselves are defined once, in :mod:`clearing.trust`, with
every other format that is hashed or signed; this module adds the id hashing built on them.
"""

from __future__ import annotations

import uuid

from clearing.trust import CanonicalEncodingError, canonical_json, keccak256, keccak256_of_parts

__all__ = [
    "CanonicalEncodingError",
    "canonical_json",
    "code_to_bytes32",
    "hex32",
    "keccak256",
    "keccak256_of_parts",
    "uuid_to_bytes32",
]


def uuid_to_bytes32(u: str | uuid.UUID) -> bytes:
    """On-chain id of an off-chain UUID: keccak256 of its 16 raw bytes."""
    value = u if isinstance(u, uuid.UUID) else uuid.UUID(u)
    return keccak256(value.bytes)


def code_to_bytes32(code: str) -> bytes:
    """On-chain id of an EAN / congestion-point code: keccak256 of its UTF-8 bytes."""
    return keccak256(code.encode("utf-8"))


def hex32(b: bytes) -> str:
    """``0x``-prefixed lowercase hex of a byte string (usually 32 bytes)."""
    return "0x" + bytes(b).hex()
