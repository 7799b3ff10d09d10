"""Plain Python mirrors of the contracts' ABI types (enums and structs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class SessionState(IntEnum):
    """``IFlexMarket.State``; DELIVERING is off-chain only (between Cleared and Verified)."""

    NONE = 0
    OPEN = 1
    CLOSED = 2
    CLEARED = 3
    VERIFIED = 4
    DISPUTED = 5
    FINAL = 6


@dataclass(frozen=True)
class Reservation:
    """Maximum payment reserved for one FSP against one request (token minor units)."""

    request_id: bytes
    fsp: str
    amount: int

    def as_abi(self) -> tuple[bytes, str, int]:
        return (self.request_id, self.fsp, self.amount)


def snake_case(name: str) -> str:
    """``gateClosure`` -> ``gate_closure`` (ABI struct field names to Python ones)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class SessionInfo:
    """``IFlexMarket.SessionInfo`` with snake_case names and the state as an enum."""

    state: SessionState
    gate_closure: int
    delivery_start: int
    delivery_end: int
    isp_seconds: int
    challenge_window: int
    verified_at: int
    index: int
    request_count: int
    reservation_count: int
    budget: int
    reserved: int
    paid: int
    input_hash: bytes
    result_root: bytes
    delivery_root: bytes
    disputed_by: str
    dispute_reason_hash: bytes
    # commitments the contract stores instead of the lists (defaults keep old constructors valid)
    reservations_hash: bytes = bytes(32)
    payouts_hash: bytes = bytes(32)

    @classmethod
    def from_abi(cls, raw: dict[str, Any]) -> SessionInfo:
        values = {snake_case(k): v for k, v in raw.items()}
        missing = [f for f in cls.__dataclass_fields__ if f not in values]
        if missing:
            raise ValueError(f"SessionInfo: ABI struct lacks {missing} (got {sorted(values)})")
        values["state"] = SessionState(values["state"])
        return cls(**{f: values[f] for f in cls.__dataclass_fields__})

    @property
    def challenge_deadline(self) -> int:
        """When the challenge window ends (0 before delivery is attested)."""
        return self.verified_at + self.challenge_window if self.verified_at else 0


@dataclass(frozen=True)
class RequestInfo:
    """``IFlexMarket.RequestInfo`` with snake_case names."""

    session_id: bytes
    dso: str
    congestion_point: bytes
    request_hash: bytes
    budget: int
    cancelled: bool

    @classmethod
    def from_abi(cls, raw: dict[str, Any]) -> RequestInfo:
        return cls(
            session_id=raw["sessionId"],
            dso=raw["dso"],
            congestion_point=raw["congestionPoint"],
            request_hash=raw["requestHash"],
            budget=raw["budget"],
            cancelled=raw["cancelled"],
        )


@dataclass(frozen=True)
class OfferCommitment:
    root: bytes
    count: int
    committed_at: int
