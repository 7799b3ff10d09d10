"""The one typed view of a session (and a request) exactly as the FlexMarket contract stores it.

Why one view: the worker, the indexer, the auditor and the clearing house all read
``FlexMarket.session()``; each kept its own subset with its own conversions. Everything now
reads this frozen record, built from the getter's return value in exactly one place
(``ChainSession.from_abi``, called by ``FlexMarketContract.session``). The roots the contract
only publishes in events are a separate record (``SessionRoots``), because they are not state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.chain.types import SessionState

#: The events one session emits over its life, in lifecycle order (``IFlexMarket``).
SESSION_EVENTS = (
    "SessionCreated",
    "RequestPosted",
    "RequestCancelled",
    "OffersCommitted",
    "SessionClosed",
    "ClearingPosted",
    "ReadingsDigestsCommitted",
    "DeliveryAttested",
    "SessionDisputed",
    "DisputeResolved",
    "SessionRefundedStuck",
    "SessionFinalized",
)


@dataclass(frozen=True)
class ChainSession:
    """``IFlexMarket.SessionInfo``: times in Unix seconds, amounts in token minor units."""

    state: SessionState
    gate_closure: int
    delivery_start: int
    delivery_end: int
    isp_s: int
    challenge_window: int
    verified_at: int
    index: int
    request_count: int
    reservation_count: int
    budget: int
    reserved: int
    paid: int
    reservations_hash: bytes  # keccak256(abi.encode(reservations)), zero before clearing
    payouts_hash: bytes  # keccak256(abi.encode(payouts)), zero before attestation
    disputed_by: str
    dispute_reason_hash: bytes
    terms_hash: bytes  # keccak256 of the canonical session terms, fixed by createSession

    @classmethod
    def from_abi(cls, raw: Mapping[str, Any]) -> ChainSession:
        """From the decoded ``session(bytes32)`` struct (ABI component names as keys)."""
        return cls(
            state=SessionState(int(raw["state"])),
            gate_closure=int(raw["gateClosure"]),
            delivery_start=int(raw["deliveryStart"]),
            delivery_end=int(raw["deliveryEnd"]),
            isp_s=int(raw["ispSeconds"]),
            challenge_window=int(raw["challengeWindow"]),
            verified_at=int(raw["verifiedAt"]),
            index=int(raw["index"]),
            request_count=int(raw["requestCount"]),
            reservation_count=int(raw["reservationCount"]),
            budget=int(raw["budget"]),
            reserved=int(raw["reserved"]),
            paid=int(raw["paid"]),
            reservations_hash=bytes(raw["reservationsHash"]),
            payouts_hash=bytes(raw["payoutsHash"]),
            disputed_by=str(raw["disputedBy"]),
            dispute_reason_hash=bytes(raw["disputeReasonHash"]),
            terms_hash=bytes(raw["termsHash"]),
        )

    @property
    def challenge_deadline(self) -> int:
        """When the challenge window ends (0 before delivery is attested)."""
        return self.verified_at + self.challenge_window if self.verified_at else 0


@dataclass(frozen=True)
class SessionRoots:
    """The roots a session anchored, read from its latest events (zero until posted)."""

    input_hash: bytes  # ClearingPosted
    result_root: bytes  # ClearingPosted
    delivery_root: bytes  # DisputeResolved.correctedRoot, else DeliveryAttested


@dataclass(frozen=True)
class RequestOrigin:
    """What a request's RequestPosted event adds to the stored record."""

    session_id: bytes
    congestion_point: bytes


@dataclass(frozen=True)
class ChainRequest:
    """``IFlexMarket.RequestInfo``: the escrow record of one FlexRequest."""

    session_index: int
    dso: str
    request_hash: bytes  # keccak256 of the canonical FlexRequest (binds its congestion point)
    budget: int
    cancelled: bool
    index_in_session: int

    @classmethod
    def from_abi(cls, raw: Mapping[str, Any]) -> ChainRequest:
        """From the decoded ``request(bytes32)`` struct."""
        return cls(
            session_index=int(raw["sessionIndex"]),
            dso=str(raw["dso"]),
            request_hash=bytes(raw["requestHash"]),
            budget=int(raw["budget"]),
            cancelled=bool(raw["cancelled"]),
            index_in_session=int(raw["indexInSession"]),
        )
