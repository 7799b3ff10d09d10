"""The lists FlexMarket stores only as hashes, and how they are hashed and rebuilt from logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from adapters.chain.types import Reservation

ZERO32 = bytes(32)
RESERVATION_LIST_ABI = "(bytes32,address,uint128)[]"
LOG_STEP = 50_000


def topic(value: bytes | str) -> str:
    """An indexed bytes32 or address argument as a log topic (0x-hex, 32 bytes)."""
    if isinstance(value, str):
        return "0x" + value.lower().removeprefix("0x").rjust(64, "0")
    return "0x" + bytes(value).rjust(32, b"\0").hex()


def reservations_hash(reservations: Sequence[Reservation]) -> bytes:
    """keccak256(abi.encode(reservations)), as FlexMarket stores it."""
    return keccak(abi_encode([RESERVATION_LIST_ABI], [[r.as_abi() for r in reservations]]))


def payouts_hash(payouts: Sequence[int]) -> bytes:
    """keccak256(abi.encode(payouts)), as FlexMarket stores it."""
    return keccak(abi_encode(["uint128[]"], [list(payouts)]))


def reservation_from_abi(row: Any) -> Reservation:
    if isinstance(row, dict):
        return Reservation(request_id=bytes(row["requestId"]), fsp=row["fsp"], amount=row["amount"])
    request_id, fsp, amount = row
    return Reservation(request_id=bytes(request_id), fsp=fsp, amount=int(amount))
