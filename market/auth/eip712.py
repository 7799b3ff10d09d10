"""EIP-712 typed messages: every write to the API is one, signed by a participant's key.

One envelope type covers every resource: the body travels as JSON and is bound into the
signature by ``bodyHash = keccak256(canonical_json(body))``. Next to that opaque hash the
envelope carries a signed ``summary`` (market/auth/summary.py), the line a wallet shows: the
service refuses a summary that is not exactly the body's, so nobody signs blind. The domain
binds the chain id and the market contract, so a message for one market or chain is useless on
another.

The digest is :func:`clearing.trust.eip712_digest` (the one definition of the trust formats)
and the signer is recovered with coincurve; ``tests/unit/market/auth`` proves equality with
eth-account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from coincurve import PrivateKey, PublicKey
from eth_utils.address import to_checksum_address

from clearing.trust import EIP712_DOMAIN_NAME as DOMAIN_NAME
from clearing.trust import EIP712_DOMAIN_VERSION as DOMAIN_VERSION
from clearing.trust import EIP712_PRIMARY_TYPE as PRIMARY_TYPE
from clearing.trust import EIP712_TYPES as TYPES
from clearing.trust import SECP256K1_N, CanonicalEncodingError, eip712_digest, keccak256
from clearing.trust import canonical_json as _canonical_json
from market.auth.summary import summarize
from market.errors import BadSignature, InvalidMessage


def canonical_json(obj: Any, *, schema_checked: bool = False) -> bytes:
    """The RFC 8785-style bytes of a body (clearing.trust), errors as InvalidMessage."""
    try:
        return _canonical_json(obj, schema_checked=schema_checked)
    except CanonicalEncodingError as exc:
        raise InvalidMessage(exc.reason, field="body" + exc.path.removeprefix("$")) from exc


def body_hash(body: Any, *, validated: bool = False) -> bytes:
    """keccak256 of the canonical body.

    ``validated``: the body already passed a strict schema (integers and strings only, ASCII
    field names), for which the C JSON encoder gives the same bytes as RFC 8785.
    """
    return keccak256(canonical_json(body, schema_checked=validated))


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one market deployment."""

    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def digest(
    domain: Domain,
    *,
    kind: str,
    message_id: str,
    signer: str,
    expiry: int,
    summary: str,
    body_hash32: bytes,
) -> bytes:
    """The 32-byte EIP-712 digest ``keccak256(0x1901 ‖ domainSeparator ‖ structHash)``."""
    if not 0 <= expiry < 2**64:
        raise InvalidMessage("must fit in uint64", field="expiry")
    return eip712_digest(
        chain_id=domain.chain_id,
        verifying_contract=domain.verifying_contract,
        kind=kind,
        message_id=message_id,
        signer=_address_bytes(signer, "signer"),
        expiry=expiry,
        summary=summary,
        body_hash32=body_hash32,
    )


def typed_data(
    domain: Domain,
    *,
    kind: str,
    message_id: str,
    signer: str,
    expiry: int,
    body: Any,
    isp_s: int | None = None,
) -> dict[str, Any]:
    """The full EIP-712 JSON (for wallets: ``eth_signTypedData_v4``); ``isp_s``: the ISP
    length of an offer's session (its summary then shows energy in Wh)."""
    return {
        "types": TYPES,
        "primaryType": PRIMARY_TYPE,
        "domain": domain.as_dict(),
        "message": {
            "kind": kind,
            "messageId": message_id,
            "signer": to_checksum_address(signer),
            "expiry": expiry,
            "summary": summarize(kind, body, isp_s=isp_s),
            "bodyHash": "0x" + body_hash(body).hex(),
        },
    }


def _address_bytes(address: str, field: str) -> bytes:
    raw = address.lower().removeprefix("0x")
    if len(raw) != 40:
        raise InvalidMessage("not a 20-byte hex address", field=field)
    try:
        return bytes.fromhex(raw)
    except ValueError as exc:
        raise InvalidMessage("not a 20-byte hex address", field=field) from exc


def sign_digest(private_key: bytes | str, msg_digest: bytes) -> str:
    """65-byte ``r ‖ s ‖ v`` (v = 27/28) signature as 0x-hex."""
    key = (
        private_key
        if isinstance(private_key, bytes)
        else bytes.fromhex(private_key.removeprefix("0x"))
    )
    sig = PrivateKey(key).sign_recoverable(msg_digest, hasher=None)
    return "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()


def recover(msg_digest: bytes, signature: str) -> str:
    """The lowercase address that produced ``signature`` over ``msg_digest``."""
    try:
        sig = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError as exc:
        raise BadSignature("not hex", field="signature") from exc
    if len(sig) != 65:
        raise BadSignature("must be 65 bytes (r, s, v)", field="signature")
    v = sig[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        raise BadSignature("v must be 27 or 28", field="signature")
    if int.from_bytes(sig[32:64], "big") > SECP256K1_N // 2:
        raise BadSignature("high-s signatures are not accepted", field="signature")
    try:
        pub = PublicKey.from_signature_and_message(sig[:64] + bytes([v]), msg_digest, hasher=None)
    except Exception as exc:  # coincurve raises plain Exception on invalid points
        raise BadSignature("does not recover to a public key", field="signature") from exc
    return "0x" + keccak256(pub.format(compressed=False)[1:])[-20:].hex()


def address_of(private_key: bytes | str) -> str:
    key = (
        private_key
        if isinstance(private_key, bytes)
        else bytes.fromhex(private_key.removeprefix("0x"))
    )
    pub = PrivateKey(key).public_key.format(compressed=False)[1:]
    return "0x" + keccak256(pub)[-20:].hex()


def new_message_id() -> str:
    return str(uuid.uuid4())


def sign_message(
    domain: Domain,
    private_key: bytes | str,
    *,
    kind: str,
    body: Any,
    expiry: int,
    message_id: str | None = None,
    isp_s: int | None = None,
) -> dict[str, Any]:
    """A complete signed envelope ready to POST: message id, kind, signer, expiry, body, sig.
    An offer's ``isp_s`` (its session's ISP length) puts its energy in Wh in the summary,
    which the service requires when it knows the session."""
    signer = address_of(private_key)
    message_id = message_id or new_message_id()
    summary = summarize(kind, body, isp_s=isp_s)
    d = digest(
        domain,
        kind=kind,
        message_id=message_id,
        signer=signer,
        expiry=expiry,
        summary=summary,
        body_hash32=body_hash(body),
    )
    return {
        "message_id": message_id,
        "kind": kind,
        "signer": to_checksum_address(signer),
        "expiry": expiry,
        "summary": summary,
        "body": body,
        "signature": sign_digest(private_key, d),
    }


def verify_envelope(
    domain: Domain,
    envelope: dict[str, Any],
    *,
    validated: bool = False,
    isp_s: int | None = None,
) -> tuple[str, bytes]:
    """Check the signature of a raw envelope; returns (lowercase signer, body hash).

    The signature covers the envelope's ``summary``, which must then be exactly the body's
    (what the wallet showed is what the body says); else refused naming the field ``summary``.
    ``isp_s`` is the ISP length of an offer's session, when the session is known."""
    bh = body_hash(envelope["body"], validated=validated)
    summary = envelope.get("summary")
    if not isinstance(summary, str):
        raise InvalidMessage("missing: the line a wallet shows next to bodyHash", field="summary")
    d = digest(
        domain,
        kind=envelope["kind"],
        message_id=envelope["message_id"],
        signer=envelope["signer"],
        expiry=int(envelope["expiry"]),
        summary=summary,
        body_hash32=bh,
    )
    recovered = recover(d, envelope["signature"])
    claimed = envelope["signer"].lower()
    if recovered != claimed:
        raise BadSignature(
            f"signature recovers to {recovered}, not the claimed signer {claimed}",
            field="signature",
        )
    expected = summarize(envelope["kind"], envelope["body"], isp_s=isp_s)
    if summary != expected:
        raise InvalidMessage(
            f"signed {summary!r} but the body says {expected!r}: what a wallet shows must be "
            "exactly the body's summary (market/auth/summary.py)",
            field="summary",
        )
    return claimed, bh
