"""Golden vectors of the trust formats (clearing.trust), computed from the code before the
formats were merged into one module: any byte that moves breaks signatures and audits."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from adapters.ocpp import signing
from clearing.messages import FlexOffer, FlexOfferOption, IspPower
from clearing.settlement import meter
from clearing.trust import (
    SignedReadingError,
    canonical_json,
    eip191_hash,
    eip191_sign,
    eip712_digest,
    meter_reading_payload,
    recover_eip191_signer,
    secp256k1_key,
)
from market.auth import eip712
from market.auth.summary import summarize

KEY = "0x" + bytes(range(1, 33)).hex()
ADDRESS = "0x6370eF2f4Db3611D657b90667De398a2Cc2a370C"
PUBLIC_KEY = (
    "0x0484bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b08cc43d63b2859d469fee15"
    "f31c9edb5324266e6fd0407e87382d60fc4511acd8"
)
READING = {"evse": 1, "timestamp": 1769040000, "import_wh": 123456, "export_wh": 7890}
METER_VECTORS = [
    (
        "CP-01",
        b'{"evse":1,"export_wh":7890,"import_wh":123456,"station":"CP-01","timestamp":1769040000}',
        "6c1e80e46192ab4b7e59dc6b9fe4888c2ac05af4656ce5e66df0fa459bb68a77",
        "0x7fd3002073811797ae16aa3f4a4f735074a82b7215171161d5add50f406356100fc2adf21d76cc850605ea"
        "2472902dec27a19347bd7074f7fdb0fd4b1422b2391b",
    ),
    (
        "Stazione-é",
        b'{"evse":1,"export_wh":7890,"import_wh":123456,"station":"Stazione-\xc3\xa9",'
        b'"timestamp":1769040000}',
        "ac774be8a22c2d8e6b3abce9fd84acc9dfcda73497a20b467d137ed7b2a21bf0",
        "0xe28fca7699b00d8f0940400356373280008fb308954ece9a844e34cf3c0f5b9f4d8a7ec4d93705f80f069f"
        "8b157d5d99620d0869cb381a644c686349d45434991b",
    ),
]
OCPP_SIGNED_METER_DATA_CP01 = (
    "eyJwYXlsb2FkIjp7ImV2c2UiOjEsImV4cG9ydF93aCI6Nzg5MCwiaW1wb3J0X3doIjoxMjM0NTYsInN0YXRpb24iOiJD"
    "UC0wMSIsInRpbWVzdGFtcCI6MTc2OTA0MDAwMH0sInNpZ25hdHVyZSI6IjB4N2ZkMzAwMjA3MzgxMTc5N2FlMTZhYTNm"
    "NGE0ZjczNTA3NGE4MmI3MjE1MTcxMTYxZDVhZGQ1MGY0MDYzNTYxMDBmYzJhZGYyMWQ3NmNjODUwNjA1ZWEyNDcyOTAy"
    "ZGVjMjdhMTkzNDdiZDcwNzRmN2ZkYjBmZDRiMTQyMmIyMzkxYiJ9"
)


@pytest.mark.parametrize(("station", "payload", "hash_hex", "signature"), METER_VECTORS)
def test_meter_reading_payload_hash_and_signature(
    station: str, payload: bytes, hash_hex: str, signature: str
) -> None:
    assert meter_reading_payload(station=station, **READING) == payload
    assert eip191_hash(payload).hex() == hash_hex
    assert eip191_sign(secp256k1_key(KEY), payload) == signature
    # eth-account agrees on the EIP-191 bytes, and recovery gives the station's address back
    assert "0x" + bytes(Account.sign_message(encode_defunct(payload), KEY).signature).hex() == (
        signature
    )
    assert recover_eip191_signer(payload, signature) == ADDRESS


@pytest.mark.parametrize(("station", "payload", "hash_hex", "signature"), METER_VECTORS)
def test_ocpp_and_settlement_sign_the_same_bytes(
    station: str, payload: bytes, hash_hex: str, signature: str
) -> None:
    ocpp = signing.sign_reading(
        KEY,
        station_id=station,
        evse_id=1,
        timestamp=1769040000,
        import_wh=123456,
        export_wh=7890,
    )
    assert (ocpp.signed_data.encode(), ocpp.signature, ocpp.public_key) == (
        payload,
        signature,
        PUBLIC_KEY,
    )
    settled = meter.sign_reading(KEY, station=station, **READING)
    assert (settled.payload(), settled.signature) == (payload, signature)
    assert meter.recover_reading_signer(settled) == ADDRESS.lower()
    assert signing.recover_reading_signer(ocpp.signed_data, ocpp.signature) == ADDRESS


def test_ocpp_wire_envelope() -> None:
    ocpp = signing.sign_reading(
        KEY, station_id="CP-01", evse_id=1, timestamp=1769040000, import_wh=123456, export_wh=7890
    )
    wire = signing.encode_signed_meter_value(ocpp)
    assert wire["signedMeterData"] == OCPP_SIGNED_METER_DATA_CP01
    assert wire["publicKey"] == (
        "BIS/dWImK71pQAhXSPO+avpSrjFxVRgezjG2Y1HM/6SwjMQ9Y7KFnUaf7hXzHJ7bUyQmbm/QQH6HOC1g/EURrNg="
    )
    assert signing.decode_signed_meter_data(wire["signedMeterData"]).signed_data == (
        ocpp.signed_data
    )


def test_meter_reading_refuses_non_integer_registers() -> None:
    with pytest.raises(SignedReadingError, match="import_wh"):
        meter_reading_payload(**{**READING, "station": "CP-01", "import_wh": 1.5})  # type: ignore[arg-type]


def test_canonical_json_of_a_fixed_object() -> None:
    obj = {
        "z": [1, -2, 2**80, True, False, None],
        "a": {"é": 'ü\n"\\\u0001', "\U0001f600": "x", "b": ""},
        "A": "€",
    }
    expected = (
        b'{"A":"\xe2\x82\xac","a":{"b":"","\xc3\xa9":"\xc3\xbc\\n\\"\\\\\\u0001",'
        b'"\xf0\x9f\x98\x80":"x"},"z":[1,-2,1208925819614629174706176,true,false,null]}'
    )
    assert canonical_json(obj) == expected


OFFER = FlexOffer(
    offer_id="6f1c7a52-0c4e-4a57-9d0e-3a8b1f2c4d5e",
    session_id="0b9e3f7a-1d2c-4e5f-8a9b-c0d1e2f3a4b5",
    fsp="0x" + "ab" * 20,
    congestion_point="CP-1",
    direction="UP",
    expires_at=1769040000,
    options=[
        FlexOfferOption(
            option_ref="a",
            isps=[IspPower(isp_index=0, power_w=11000), IspPower(isp_index=1, power_w=22000)],
            price_per_mwh=150_000_000,
            min_activation_ppm=1_000_000,
        )
    ],
)
OFFER_JSON = (
    b'{"baseline_ref":null,"congestion_point":"CP-1","direction":"UP","expires_at":1769040000,'
    b'"fsp":"0xabababababababababababababababababababab",'
    b'"offer_id":"6f1c7a52-0c4e-4a57-9d0e-3a8b1f2c4d5e","options":[{"isps":[{"isp_index":0,'
    b'"power_w":11000},{"isp_index":1,"power_w":22000}],"min_activation_ppm":1000000,'
    b'"option_ref":"a","price_per_mwh":150000000,"rebound":[]}],"request_id":null,'
    b'"session_id":"0b9e3f7a-1d2c-4e5f-8a9b-c0d1e2f3a4b5"}'
)
OFFER_BODY_HASH = "8bb55bf43b5670e21a912eb716d2e9f8fbcb904977c00b8719a63c05fda4d4da"
OFFER_DIGEST = "5a602efc51fc3a4626e8f4be19d7e286e9368eab28a69079e3b84ef29ab320dc"
OFFER_SIGNATURE = (
    "0xd5a2a1d72b01fdfc12195542ef340204524af25c6cb3be152a8c3554ec0181d64a504941f0e3b857e321ba37"
    "93f330326a674cb0525683eff60264c14489b9431c"
)
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MESSAGE_ID = "11111111-2222-4333-8444-555555555555"
OFFER_SUMMARY = (
    "Offer 6f1c7a52-0c4e-4a57-9d0e-3a8b1f2c4d5e in session 0b9e3f7a-1d2c-4e5f-8a9b-c0d1e2f3a4b5"
    " at CP-1, direction UP; a: up to 22000 W in 2 ISPs at 150.00 EUR/MWh"
)


def test_offer_canonical_bytes_both_paths() -> None:
    body = OFFER.model_dump(mode="python")
    assert canonical_json(body) == OFFER_JSON
    assert canonical_json(body, schema_checked=True) == OFFER_JSON
    assert OFFER.to_canonical() == OFFER_JSON


def test_eip712_digest_of_a_fixed_offer() -> None:
    body = OFFER.model_dump(mode="python")
    assert eip712.body_hash(body).hex() == OFFER_BODY_HASH
    assert eip712.body_hash(body, validated=True).hex() == OFFER_BODY_HASH
    digest = eip712_digest(
        chain_id=31337,
        verifying_contract=MARKET,
        kind="offer",
        message_id=MESSAGE_ID,
        signer=bytes.fromhex(ADDRESS[2:]),
        expiry=1769040000,
        summary=OFFER_SUMMARY,
        body_hash32=bytes.fromhex(OFFER_BODY_HASH),
    )
    assert digest.hex() == OFFER_DIGEST
    via_api = eip712.digest(
        eip712.Domain(chain_id=31337, verifying_contract=MARKET),
        kind="offer",
        message_id=MESSAGE_ID,
        signer=ADDRESS,
        expiry=1769040000,
        summary=summarize("offer", body),
        body_hash32=bytes.fromhex(OFFER_BODY_HASH),
    )
    assert via_api == digest
    assert eip712.sign_digest(KEY, digest) == OFFER_SIGNATURE
    assert eip712.recover(digest, OFFER_SIGNATURE) == ADDRESS.lower()


def test_siwe_text_digest() -> None:
    assert eip191_hash(b"hello flexmarket").hex() == (
        "0b07a269be7a7c1af60eaf230b89c2323e8e5db94e7188faad7d8c61539212f8"
    )


def test_readings_digest_payload_v2_names_the_deployment() -> None:
    """The bytes a CPO signs for one station's readings in one ISP: chain id and market
    address (lower-case) beside the session, so no other deployment accepts the signature."""
    from clearing.trust import keccak256, readings_digest_payload

    payload = readings_digest_payload(
        chain_id=31337,
        market="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        session_id="6f1c1f57-3c2a-4f39-9a4e-0d0bb0d1a001",
        station="CP-01",
        isp_start=1769040000,
        count=3,
        root="0x" + "ab" * 32,
    )
    assert payload == (
        b'{"chain_id":31337,"count":3,"isp_start":1769040000,"kind":"readings_digest",'
        b'"market":"0x5fbdb2315678afecb367f032d93f642f64180aa3","root":"0x'
        + b"ab" * 32
        + b'","session_id":"6f1c1f57-3c2a-4f39-9a4e-0d0bb0d1a001","station":"CP-01","version":2}'
    )
    assert keccak256(payload).hex() == (
        "b901c12d6b24238e23fdff7d985c28aba0960c4a112377932c104269c409ac28"
    )


def test_keccak256_is_ethereums_keccak_on_known_and_random_inputs() -> None:
    """The direct safe-pysha3 call gives eth-utils' keccak (which the chain tools use),
    including at the sponge's 136-byte block edges, and the known empty-input digest."""
    import random

    from eth_utils import keccak as eth_utils_keccak  # type: ignore[attr-defined]

    from clearing.trust import keccak256

    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )
    rng = random.Random(7)
    sizes = [0, 1, 31, 32, 33, 64, 135, 136, 137, 271, 272, 273, 1000, 10_000]
    for n in sizes + [rng.randrange(0, 2_000) for _ in range(200)]:
        data = rng.randbytes(n)
        assert keccak256(data) == bytes(eth_utils_keccak(data)), n
    assert keccak256(bytearray(b"abc")) == keccak256(b"abc")
