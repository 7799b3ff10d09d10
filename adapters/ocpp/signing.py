"""Signed meter readings: the exact bytes a station signs and how anyone recovers the signer.

The signed payload and its EIP-191 signature are defined once, in :mod:`clearing.trust`
(:func:`~clearing.trust.meter_reading_payload`), and verified by the settlement with the same
code; ``timestamp`` is Unix seconds (UTC) as sent in the OCPP ``meterValue.timestamp``.  This
module adds the OCPP wire form:

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

from coincurve import PublicKey
from eth_utils.address import to_checksum_address

from clearing.trust import (
    SignedReadingError,
    eip191_sign,
    meter_reading_payload,
    recover_eip191_signer,
    secp256k1_key,
    station_address,
)

__all__ = [
    "ENCODING_METHOD",
    "SIGNING_METHOD",
    "ReadingSigner",
    "SignedReading",
    "SignedReadingError",
    "decode_signed_meter_data",
    "encode_signed_meter_value",
    "public_key_hex",
    "public_key_to_address",
    "reading_payload",
    "recover_reading_signer",
    "sign_reading",
]

SIGNING_METHOD = "ECDSA-secp256k1-EIP191"
ENCODING_METHOD = "flexmarket-canonical-json-v1"


@dataclass(frozen=True, slots=True)
class SignedReading:
    """What a station attaches to a reading: signed bytes (as text), signature, public key."""

    signed_data: str
    signature: str
    public_key: str  # 0x-hex, 65-byte uncompressed SEC1


def reading_payload(
    *, station_id: str, evse_id: int, timestamp: int, import_wh: int, export_wh: int
) -> str:
    """Canonical JSON text of the fields a station signs (:mod:`clearing.trust`)."""
    return meter_reading_payload(
        station=station_id,
        evse=evse_id,
        timestamp=timestamp,
        import_wh=import_wh,
        export_wh=export_wh,
    ).decode()


def public_key_hex(private_key: bytes | str) -> str:
    """Uncompressed SEC1 public key of a station key, 0x-hex."""
    return "0x" + secp256k1_key(private_key).public_key.format(compressed=False).hex()


def public_key_to_address(public_key: str) -> str:
    """Ethereum address (checksummed) of a 0x-hex uncompressed public key."""
    raw = bytes.fromhex(public_key.removeprefix("0x"))
    if len(raw) == 33:
        raw = PublicKey(raw).format(compressed=False)
    if len(raw) != 65 or raw[0] != 4:
        raise SignedReadingError("public_key: expected 65-byte uncompressed SEC1 key")
    return to_checksum_address(station_address("0x" + raw.hex()))


class ReadingSigner:
    """A station's key, parsed once; signing many readings is then ~2x cheaper."""

    def __init__(self, private_key: bytes | str) -> None:
        self._key = secp256k1_key(private_key)
        raw_public = self._key.public_key.format(compressed=False)
        self.public_key = "0x" + raw_public.hex()
        self.public_key_b64 = base64.b64encode(raw_public).decode()
        self.address = public_key_to_address(self.public_key)

    def sign(
        self, *, station_id: str, evse_id: int, timestamp: int, import_wh: int, export_wh: int
    ) -> SignedReading:
        payload = meter_reading_payload(
            station=station_id,
            evse=evse_id,
            timestamp=timestamp,
            import_wh=import_wh,
            export_wh=export_wh,
        )
        signature = eip191_sign(self._key, payload)
        return SignedReading(payload.decode(), signature, self.public_key)


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
        return recover_eip191_signer(signed_data.encode(), signature)
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
