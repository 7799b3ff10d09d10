"""Sign-In with Ethereum (EIP-4361), written by hand, plus the session tokens it yields.

The ``siwe`` package pins an eth-account older than ours, so the message grammar lives here:
build, parse and verify (EIP-191 ``personal_sign`` recovery, domain, chain, nonce, times).
Tokens are HMACs, so several API processes can share one secret; nonces (one-time) and
revoked token ids live in the store (market/auth/sign_in_store.py), shared the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from clearing.trust import eip191_hash
from market.auth.eip712 import recover
from market.auth.sign_in_store import SignInStore
from market.errors import BadSignature, InvalidMessage, MessageExpired, Unauthenticated

_HEADER = " wants you to sign in with your Ethereum account:"
_FIELDS = (
    ("uri", "URI"),
    ("version", "Version"),
    ("chain_id", "Chain ID"),
    ("nonce", "Nonce"),
    ("issued_at", "Issued At"),
    ("expiration_time", "Expiration Time"),
    ("not_before", "Not Before"),
    ("request_id", "Request ID"),
)


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message (resources are not used by this market)."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None

    def to_text(self) -> str:
        lines = [f"{self.domain}{_HEADER}", to_checksum_address(self.address), ""]
        if self.statement:
            lines += [self.statement, ""]
        for attr, label in _FIELDS:
            value = getattr(self, attr)
            if value is not None:
                lines.append(f"{label}: {value}")
        return "\n".join(lines)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str, field: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise InvalidMessage("not an RFC 3339 timestamp", field=field) from exc


def parse(text: str) -> SiweMessage:
    """Parse EIP-4361 text; every malformed line is named in the error."""
    lines = text.split("\n")
    if len(lines) < 3 or not lines[0].endswith(_HEADER):
        raise InvalidMessage(
            "first line must be '<domain> wants you to sign in ...'", field="message"
        )
    domain = lines[0][: -len(_HEADER)]
    address = lines[1]
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", address):
        raise InvalidMessage("second line must be an address", field="message.address")
    if address != to_checksum_address(address):
        raise InvalidMessage("address must be EIP-55 checksummed", field="message.address")
    rest = lines[2:]
    if not rest or rest[0] != "":
        raise InvalidMessage("blank line expected after the address", field="message")
    rest = rest[1:]
    statement = None
    if rest and not rest[0].startswith("URI: "):
        statement = rest[0]
        if len(rest) < 2 or rest[1] != "":
            raise InvalidMessage("blank line expected after the statement", field="message")
        rest = rest[2:]
    values: dict[str, str] = {}
    labels = {label: attr for attr, label in _FIELDS}
    for line in rest:
        label, sep, value = line.partition(": ")
        if not sep or label not in labels:
            raise InvalidMessage(f"unexpected line {line!r}", field="message")
        values[labels[label]] = value
    for required in ("uri", "version", "chain_id", "nonce", "issued_at"):
        if required not in values:
            raise InvalidMessage("missing", field=f"message.{required}")
    if values["version"] != "1":
        raise InvalidMessage("only version 1 exists", field="message.version")
    if not re.fullmatch(r"[A-Za-z0-9]{8,}", values["nonce"]):
        raise InvalidMessage("must be >= 8 alphanumeric characters", field="message.nonce")
    try:
        chain_id = int(values.pop("chain_id"))
    except ValueError as exc:
        raise InvalidMessage("not an integer", field="message.chain_id") from exc
    return SiweMessage(
        domain=domain, address=address, statement=statement, chain_id=chain_id, **values
    )


def _eip191_digest(text: str) -> bytes:
    return eip191_hash(text.encode())


@dataclass(frozen=True)
class SessionToken:
    """What a valid bearer token says: who, until when, and its id (for sign-out)."""

    address: str
    expires_at_s: int
    jti: str


class TokenIssuer:
    """Hands out one-time nonces and HMAC bearer tokens; tokens can be revoked."""

    def __init__(
        self,
        secret: str | None,
        *,
        domain: str,
        chain_id: int,
        token_ttl_s: int,
        store: SignInStore,
    ) -> None:
        self._secret = (secret or secrets.token_hex(32)).encode()
        self.domain = domain
        self.chain_id = chain_id
        self.token_ttl_s = token_ttl_s
        self.store = store

    def _mac(self, data: str) -> str:
        return hmac.new(self._secret, data.encode(), hashlib.sha256).hexdigest()

    def new_nonce(self, now: float) -> str:
        return self.store.new_nonce(now)

    def sign_in(self, text: str, signature: str, now: float) -> tuple[str, str, int]:
        """Verify a signed SIWE message and use up its nonce; returns (token, address, expiry).

        The nonce is consumed last, so a message with a bad signature does not burn it.
        """
        msg = parse(text)
        if msg.domain != self.domain:
            raise Unauthenticated(f"must be {self.domain!r}", field="message.domain")
        if msg.chain_id != self.chain_id:
            raise Unauthenticated(f"must be {self.chain_id}", field="message.chain_id")
        if (
            msg.expiration_time
            and _parse_time(msg.expiration_time, "message.expiration_time") <= now
        ):
            raise MessageExpired("message has expired", field="message.expiration_time")
        if msg.not_before and _parse_time(msg.not_before, "message.not_before") > now:
            raise MessageExpired("message is not valid yet", field="message.not_before")
        recovered = recover(_eip191_digest(text), signature)
        if recovered != msg.address.lower():
            raise BadSignature("signature does not match the message address", field="signature")
        self.store.consume_nonce(msg.nonce, now)
        expiry = int(now) + self.token_ttl_s
        if msg.expiration_time:
            expiry = min(expiry, int(_parse_time(msg.expiration_time, "message.expiration_time")))
        payload = f"{recovered}.{expiry}.{secrets.token_hex(16)}"
        token = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{token}.{self._mac('token' + payload)}", recovered, expiry

    def decode_token(self, token: str, now: float) -> SessionToken:
        """The session a bearer token stands for; raises if forged, expired or revoked."""
        body, _, mac = token.rpartition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            address, expiry, jti = payload.split(".")
            expires_at_s = int(expiry)
        except ValueError as exc:
            raise Unauthenticated("malformed session token", field="authorization") from exc
        if not hmac.compare_digest(mac, self._mac("token" + payload)):
            raise Unauthenticated("session token was not issued here", field="authorization")
        if expires_at_s <= now:
            raise Unauthenticated("session token has expired", field="authorization")
        if self.store.is_revoked(jti):
            raise Unauthenticated("session token was signed out", field="authorization")
        return SessionToken(address=address, expires_at_s=expires_at_s, jti=jti)

    def check_token(self, token: str, now: float) -> str:
        """The lowercase address a bearer token was issued to."""
        return self.decode_token(token, now).address

    def revoke(self, token: str, now: float) -> SessionToken:
        """Sign out: the token is refused by every process from now on."""
        session = self.decode_token(token, now)
        self.store.revoke(session.jti, session.expires_at_s)
        return session


def build_message(
    *, domain: str, address: str, uri: str, chain_id: int, nonce: str, now: float, ttl_s: int = 3600
) -> str:
    """The text a client signs to sign in (used by market.client)."""
    return SiweMessage(
        domain=domain,
        address=address,
        statement="Sign in to the flexibility market.",
        uri=uri,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=rfc3339(now),
        expiration_time=rfc3339(now + ttl_s),
    ).to_text()


def sign_text(private_key: bytes | str, text: str) -> str:
    """EIP-191 personal_sign of ``text``."""
    from market.auth.eip712 import sign_digest

    return sign_digest(private_key, _eip191_digest(text))
