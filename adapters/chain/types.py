"""Plain Python mirrors of the contracts' ABI types (enums and structs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

# FlexMarket's role constants (each role id is keccak256 of its name).
MARKET_ROLE_NAMES = (
    "MARKET_OPERATOR_ROLE",
    "DSO_ROLE",
    "FSP_ROLE",
    "METER_ORACLE_ROLE",
    "ARBITER_ROLE",
    "CLEARING_HOUSE_ROLE",
    "CPO_ROLE",
)


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
class OfferCommitment:
    root: bytes
    count: int
    committed_at: int
    prognosis_hash: bytes = b"\x00" * 32  # clearing.commitments.prognosis_hash
    portfolio_hash: bytes = b"\x00" * 32  # clearing.commitments.portfolio_hash


@dataclass(frozen=True)
class StationRecord:
    """A station's entry in the CPO-attested registry (``FlexMarketStations``).

    ``cpo`` registered ``meter_key`` (the address that signs the station's readings);
    ``fsp`` is the FSP the CPO granted the station to (zero address: none).
    """

    station_hash: bytes
    cpo: str
    meter_key: str
    fsp: str

    @property
    def registered(self) -> bool:
        return int(self.cpo, 16) != 0
