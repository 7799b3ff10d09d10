"""Signed meter values: canonical payload, EIP-191 recovery, OCPP envelope round trip."""

from __future__ import annotations

import base64
import json

import pytest
from eth_account import Account

from adapters.ocpp.signing import (
    ReadingSigner,
    SignedReadingError,
    decode_signed_meter_data,
    encode_signed_meter_value,
    reading_payload,
    recover_reading_signer,
    sign_reading,
)

KEY = bytes(range(1, 33))
FIELDS = {"station_id": "CS1", "evse_id": 2, "timestamp": 1_790_000_000, "import_wh": 1234,
          "export_wh": 56}  # fmt: skip


def test_payload_is_canonical_json() -> None:
    assert reading_payload(**FIELDS) == (
        '{"evse":2,"export_wh":56,"import_wh":1234,"station":"CS1","timestamp":1790000000}'
    )


def test_signature_recovers_to_station_address() -> None:
    signed = sign_reading(KEY, **FIELDS)
    assert (
        recover_reading_signer(signed.signed_data, signed.signature)
        == Account.from_key(KEY).address
    )
    assert ReadingSigner(KEY).sign(**FIELDS) == signed  # deterministic (RFC 6979)


def test_tampered_payload_recovers_someone_else() -> None:
    signed = sign_reading(KEY, **FIELDS)
    forged = signed.signed_data.replace("1234", "9234")
    assert recover_reading_signer(forged, signed.signature) != Account.from_key(KEY).address


def test_ocpp_envelope_round_trip() -> None:
    signed = sign_reading(KEY, **FIELDS)
    smv = encode_signed_meter_value(signed)
    assert set(smv) == {"signedMeterData", "signingMethod", "encodingMethod", "publicKey"}
    envelope = json.loads(base64.b64decode(smv["signedMeterData"]))
    assert envelope["signature"] == signed.signature
    assert decode_signed_meter_data(smv["signedMeterData"], smv["publicKey"]) == signed


def test_non_integer_and_garbage_rejected() -> None:
    with pytest.raises(SignedReadingError, match="import_wh"):
        reading_payload(**dict(FIELDS, import_wh=1.5))
    with pytest.raises(SignedReadingError, match="signedMeterData"):
        decode_signed_meter_data("not-base64!!")
