"""Signed meter readings: the exact bytes a station signs and how anyone recovers the signer.

Format (version 1), shared with the delivery-verification code:

* **Signed payload** — canonical JSON (keys sorted, no whitespace, integers only, UTF-8) of
  ``{"evse": int, "export_wh": int, "import_wh": int, "station": str, "timestamp": int}``.
  ``timestamp`` is Unix seconds (UTC) as sent in the OCPP ``meterValue.timestamp``.
* **Signature** — EIP-191 ``personal_sign`` (version ``0x45``) over those bytes with the
  station's secp256k1 key: 65 bytes ``r || s || v`` (``v`` in {27, 28}), ``0x``-hex.
* **On the OCPP wire** (``signedMeterValue`` of the Energy.Active.Import.Register sample,
  2.0.1 / 2.1): ``signedMeterData`` = base64 of the canonical JSON envelope
  ``{"payload": <signed payload object>, "signature": "0x…"}``,
  ``signingMethod`` = :data:`SIGNING_METHOD`, ``encodingMethod`` = :data:`ENCODING_METHOD`,
  ``publicKey`` = base64 of the 65-byte uncompressed SEC1 public key (``0x04 || X || Y``).
  OCPP 1.6 has no such object: the same base64 envelope travels as an extra sampled value
  with ``format = "SignedData"`` and the key is recovered from the signature.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from Crypto.Hash import keccak as keccak_256
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import to_checksum_address

SIGNING_METHOD = "ECDSA-secp256k1-EIP191"
ENCODING_METHOD = "flexmarket-canonical-json-v1"


class SignedReadingError(ValueError):
    """A signed meter value could not be decoded or does not verify."""


@dataclass(frozen=True, slots=True)
class SignedReading:
    """What a station attaches to a reading: signed bytes (as text), signature, public key."""

    signed_data: str
    signature: str
    public_key: str  # 0x-hex, 65-byte uncompressed SEC1


def reading_payload(
    *, station_id: str, evse_id: int, timestamp: int, import_wh: int, export_wh: int
) -> str:
    """Canonical JSON text of the fields a station signs."""
    for name, value in (
        ("evse_id", evse_id),
        ("timestamp", timestamp),
        ("import_wh", import_wh),
        ("export_wh", export_wh),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise SignedReadingError(f"{name}: must be an integer, got {value!r}")
    obj = {
        "evse": evse_id,
        "export_wh": export_wh,
        "import_wh": import_wh,
        "station": station_id,
        "timestamp": timestamp,
    }
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _eip191_hash(message: bytes) -> bytes:
    prefixed = b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message
    return keccak_256.new(data=prefixed, digest_bits=256).digest()


def _private_key(key: bytes | str) -> PrivateKey:
    if isinstance(key, str):
        key = bytes.fromhex(key.removeprefix("0x"))
    if len(key) != 32:
        raise SignedReadingError(f"private_key: must be 32 bytes, got {len(key)}")
    return PrivateKey(key)


def public_key_hex(private_key: bytes | str) -> str:
    """Uncompressed SEC1 public key of a station key, 0x-hex."""
    return "0x" + _private_key(private_key).public_key.format(compressed=False).hex()


def public_key_to_address(public_key: str) -> str:
    """Ethereum address (checksummed) of a 0x-hex uncompressed public key."""
    raw = bytes.fromhex(public_key.removeprefix("0x"))
    if len(raw) == 33:
        raw = PublicKey(raw).format(compressed=False)
    if len(raw) != 65 or raw[0] != 4:
        raise SignedReadingError("public_key: expected 65-byte uncompressed SEC1 key")
    return to_checksum_address(keccak_256.new(data=raw[1:], digest_bits=256).digest()[-20:])


class ReadingSigner:
    """A station's key, parsed once; signing many readings is then ~2x cheaper."""

    def __init__(self, private_key: bytes | str) -> None:
        self._key = _private_key(private_key)
        raw_public = self._key.public_key.format(compressed=False)
        self.public_key = "0x" + raw_public.hex()
        self.public_key_b64 = base64.b64encode(raw_public).decode()
        self.address = public_key_to_address(self.public_key)

    def sign(
        self, *, station_id: str, evse_id: int, timestamp: int, import_wh: int, export_wh: int
    ) -> SignedReading:
        text = reading_payload(
            station_id=station_id,
            evse_id=evse_id,
            timestamp=timestamp,
            import_wh=import_wh,
            export_wh=export_wh,
        )
        sig = self._key.sign_recoverable(_eip191_hash(text.encode()), hasher=None)
        signature = sig[:64] + bytes([sig[64] + 27])
        return SignedReading(text, "0x" + signature.hex(), self.public_key)


def sign_reading(
    private_key: bytes | str,
    *,
    station_id: str,
    evse_id: int,
    timestamp: int,
    import_wh: int,
    export_wh: int,
) -> SignedReading:
    """Sign a reading with EIP-191 personal_sign over its canonical payload."""
    return ReadingSigner(private_key).sign(
        station_id=station_id,
        evse_id=evse_id,
        timestamp=timestamp,
        import_wh=import_wh,
        export_wh=export_wh,
    )


def recover_reading_signer(signed_data: str, signature: str) -> str:
    """Checksummed address that produced ``signature`` over ``signed_data`` (EIP-191)."""
    try:
        return Account.recover_message(encode_defunct(text=signed_data), signature=signature)
    except Exception as exc:  # eth-account raises several types for bad signatures
        raise SignedReadingError(f"signature: cannot recover signer ({exc})") from exc


def encode_signed_meter_value(
    signed: SignedReading, public_key_b64: str | None = None
) -> dict[str, str]:
    """The OCPP 2.x ``signedMeterValue`` object (camelCase keys) for a signed reading."""
    # signed_data is canonical JSON already and "payload" < "signature", so plain string
    # assembly yields the canonical envelope without a parse/serialise round trip.
    envelope = f'{{"payload":{signed.signed_data},"signature":"{signed.signature}"}}'
    if public_key_b64 is None:
        public_key_b64 = base64.b64encode(bytes.fromhex(signed.public_key[2:])).decode()
    return {
        "signedMeterData": base64.b64encode(envelope.encode()).decode(),
        "signingMethod": SIGNING_METHOD,
        "encodingMethod": ENCODING_METHOD,
        "publicKey": public_key_b64,
    }


_ENVELOPE_HEAD = '{"payload":'
_ENVELOPE_SIG = ',"signature":"'


def decode_signed_meter_data(
    signed_meter_data: str, public_key_b64: str | None = None, *, check_payload: bool = True
) -> SignedReading:
    """Split ``signedMeterData`` (base64 envelope) into the signed bytes and the signature.

    The signed bytes are returned verbatim (they are what was signed). With
    ``check_payload`` they must also be the canonical payload of integer fields; the CSMS
    skips that check on its hot path and leaves it to delivery verification.
    """
    bad = SignedReadingError(f"signedMeterData: not a {ENCODING_METHOD} envelope")
    try:
        text = base64.b64decode(signed_meter_data, validate=True).decode()
        public_key = (
            "0x" + base64.b64decode(public_key_b64, validate=True).hex() if public_key_b64 else ""
        )
    except (ValueError, binascii.Error) as exc:
        raise bad from exc
    cut = text.rfind(_ENVELOPE_SIG)
    if not text.startswith(_ENVELOPE_HEAD) or cut < 0 or not text.endswith('"}'):
        raise bad
    signed_data = text[len(_ENVELOPE_HEAD) : cut]
    signature = text[cut + len(_ENVELOPE_SIG) : -2]
    if len(signature) != 132 or not signature.startswith("0x"):
        raise SignedReadingError("signedMeterData: signature must be 65 bytes of 0x-hex")
    if check_payload:
        try:
            payload = json.loads(signed_data)
            canonical = reading_payload(
                station_id=payload["station"],
                evse_id=payload["evse"],
                timestamp=payload["timestamp"],
                import_wh=payload["import_wh"],
                export_wh=payload["export_wh"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise bad from exc
        if canonical != signed_data:
            raise SignedReadingError("signedMeterData: payload is not canonical JSON")
    return SignedReading(signed_data=signed_data, signature=signature, public_key=public_key)
