"""Domain errors of the market service; market/api/problems.py maps them to HTTP problems."""

from __future__ import annotations


class FlexMarketError(Exception):
    """Base of every market-service error; carries a field path and a reason."""

    status = 400
    slug = "bad-request"

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


class NotFound(FlexMarketError):
    """The addressed resource does not exist."""

    status = 404
    slug = "not-found"


class InvalidMessage(FlexMarketError):
    """The message body breaks a rule the schema cannot express."""

    status = 422
    slug = "invalid-message"


class UnknownCongestionPoint(InvalidMessage):
    """The message names a congestion point the market does not know."""

    slug = "unknown-congestion-point"


class BadSignature(FlexMarketError):
    """The EIP-712 signature does not recover to the claimed signer."""

    status = 401
    slug = "bad-signature"


class MessageExpired(FlexMarketError):
    """The message's expiry lies in the past (or too far in the future)."""

    status = 401
    slug = "message-expired"


class Unauthenticated(FlexMarketError):
    """A private read lacks a valid Sign-In-with-Ethereum session token."""

    status = 401
    slug = "unauthenticated"


class RoleRequired(FlexMarketError):
    """The signer does not hold the on-chain role this action needs."""

    status = 403
    slug = "role-required"


class Forbidden(FlexMarketError):
    """The caller may not see or change this resource."""

    status = 403
    slug = "forbidden"


class StationNotGranted(Forbidden):
    """The station has no CPO-registered meter key on-chain, or its CPO has not granted it to
    the signing FSP: an FSP registers only stations it has a contract for."""

    slug = "station-not-granted"


class StationNotRegisteredBySigner(Forbidden):
    """A CPO vouches only for stations whose meter key it registered on-chain itself."""

    slug = "station-not-registered-by-signer"


class Conflict(FlexMarketError):
    """The request conflicts with current state."""

    status = 409
    slug = "conflict"


class WrongSessionState(Conflict):
    """The session is not in the state this action needs."""

    slug = "wrong-session-state"


class GateClosed(Conflict):
    """Gate closure has passed; the session accepts no more submissions."""

    slug = "gate-closed"


class DuplicateMessage(Conflict):
    """A message id was reused with a different body."""

    slug = "duplicate-message"


class DuplicateDigest(Conflict):
    """A readings digest for this station and ISP of the session is stored already, with
    other content: digests are never replaced."""

    slug = "duplicate-digest"


class ChainMismatch(Conflict):
    """Off-chain data does not match what the chain records."""

    slug = "chain-mismatch"


class ChainUnavailable(FlexMarketError):
    """The chain could not be reached to check roles or state."""

    status = 503
    slug = "chain-unavailable"


class NotConfigured(FlexMarketError):
    """A step this deployment's configuration does not enable: the reason says what to set."""

    status = 501
    slug = "not-configured"


class VerificationNotConfigured(FlexMarketError):
    """Delivery verification is not wired into the worker yet."""

    status = 501
    slug = "verification-not-configured"
