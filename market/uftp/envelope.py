"""Opening an incoming UFTP SignedMessage: schema, sender, signature, recipient, freshness.

Why two kinds of refusal: a message whose sender or signature cannot be trusted is refused on
the transport (HTTP 400/401, nothing is answered to a domain that did not prove itself);
a trusted message that is wrong for the market gets the UFTP functional answer, a
``*Response`` with ``Result=Rejected`` and the specification's rejection reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shapeshifter_uftp.exceptions import InvalidSignatureException, SchemaException
from shapeshifter_uftp.transport import from_xml, unseal_message
from shapeshifter_uftp.uftp import PayloadMessage, SignedMessage
from xsdata.exceptions import ParserError

from market.uftp.config import Peer, UftpConfig


class TransportRefusal(Exception):
    """Refused before the sender is trusted: the HTTP status and why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Rejection(Exception):
    """A trusted message the market rejects: the UFTP rejection reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Opened:
    """A verified message: its payload, its sender's peer entry and the signed bytes (proof)."""

    payload: PayloadMessage
    peer: Peer
    sealed: bytes


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def open_message(body: bytes, cfg: UftpConfig) -> Opened:
    """Parse and verify one POSTed SignedMessage (freshness is :func:`check_fresh`'s)."""
    try:
        signed = from_xml(body)
    except (ParserError, ValueError, TypeError) as exc:
        raise TransportRefusal(400, f"not a UFTP SignedMessage: {exc}") from exc
    if not isinstance(signed, SignedMessage) or signed.body is None:
        raise TransportRefusal(400, "not a UFTP SignedMessage")
    peer = cfg.peer(str(signed.sender_domain), str(signed.sender_role))
    if peer is None:
        raise TransportRefusal(
            401, f"unknown sender {signed.sender_domain} as {signed.sender_role}"
        )
    try:
        payload = unseal_message(signed.body, peer.public_key)
    except InvalidSignatureException as exc:
        raise TransportRefusal(401, f"signature does not verify with {peer.domain}'s key") from exc
    except SchemaException as exc:
        raise TransportRefusal(400, f"signed payload is not UFTP: {exc}") from exc
    if not isinstance(payload, PayloadMessage):
        raise TransportRefusal(400, "signed payload is not a UFTP message")
    return Opened(payload=payload, peer=peer, sealed=bytes(signed.body))


def check_opened(opened: Opened, cfg: UftpConfig, now: float) -> None:
    """The functional checks every message passes first (UFTP rejection reasons)."""
    msg = opened.payload
    if msg.sender_domain != opened.peer.domain:
        raise Rejection("Invalid Sender")
    if msg.recipient_domain != cfg.domain:
        raise Rejection("Unknown Recipient")
    sent = _parse_time(msg.time_stamp)
    if sent is None:
        raise Rejection("Invalid Message: TimeStamp is missing or malformed")
    if now - sent > cfg.max_age_s or sent - now > cfg.max_age_s:
        raise Rejection(
            f"Stale Message: TimeStamp {msg.time_stamp} is more than {cfg.max_age_s} s "
            "from the market's clock"
        )
