"""The page's signing code (static/wallet.js, ethers 6 in Chromium) against the Python side:
the same typed data gives the byte-identical EIP-712 signature, the same body hash and the same
offer commitment root, and the service verifies what the page signed."""

from __future__ import annotations

import httpx
import pytest

from clearing.commitments import offers_root
from clearing.messages import FlexOffer
from market.auth import eip712

pytestmark = pytest.mark.integration

KEY = "0x" + "5a" * 32
MESSAGE_ID = "11111111-2222-4333-8444-555555555555"
OFFER = {
    "offer_id": "6f1c7a52-0c4e-4a57-9d0e-3a8b1f2c4d5e",
    "session_id": "0b9e3f7a-1d2c-4e5f-8a9b-c0d1e2f3a4b5",
    "fsp": eip712.address_of(KEY),
    "request_id": None,
    "congestion_point": "CP-ÉÑ-1",  # non-ASCII: UTF-8 in the hash and in the summary
    "direction": "UP",
    "baseline_ref": None,
    "expires_at": 1769040000,
    "options": [
        {
            "option_ref": 'a"b\\c',
            "isps": [{"isp_index": 0, "power_w": 11000}, {"isp_index": 1, "power_w": 22000}],
            "price_per_mwh": 150_250_000,
            "min_activation_ppm": 1_000_000,
            "rebound": [],
        }
    ],
}


def _offer(i: int) -> dict:
    return {
        **OFFER,
        "offer_id": f"00000000-0000-4000-8000-{i:012d}",
        "options": [{**OFFER["options"][0], "price_per_mwh": 1_000_000 * (i + 1)}],
    }


def test_the_page_signs_the_api_typed_data_byte_for_byte_like_python(web, finished_market):
    base = finished_market.base_url
    info = httpx.get(f"{base}/market").json()
    domain = eip712.Domain(info["chain_id"], info["market_address"])
    expected = eip712.sign_message(
        domain, KEY, kind="offer", body=OFFER, expiry=1769040000, message_id=MESSAGE_ID
    )
    typed = httpx.post(
        f"{base}/typed-data",
        json={
            "kind": "offer",
            "message_id": MESSAGE_ID,
            "signer": expected["signer"],
            "expiry": 1769040000,
            "body": OFFER,
        },
    ).json()
    assert typed["message"]["summary"] == expected["summary"]
    assert "CP-ÉÑ-1" in expected["summary"] and "150.25 EUR/MWh" in expected["summary"]

    web.open("/fsp")
    signed = web.page.evaluate(
        """async ([key, typed, body, offers]) => {
             const w = await import('/static/wallet.js');
             const { Wallet } = await import('/vendor/ethers/ethers.min.js');
             const envelope = await w.signEnvelope(new Wallet(key), typed, body);
             return { envelope, bodyHash: w.bodyHash(body), root: w.offersRoot(offers),
                      one: w.offersRoot(offers.slice(0, 1)) };
           }""",
        [KEY, typed, OFFER, [_offer(i) for i in range(5)]],
    )
    assert signed["envelope"] == expected  # every field, the signature byte for byte
    assert signed["bodyHash"] == "0x" + eip712.body_hash(OFFER).hex()
    assert eip712.verify_envelope(domain, signed["envelope"])[0] == OFFER["fsp"]
    models = [FlexOffer.model_validate(_offer(i)) for i in range(5)]
    assert signed["root"] == "0x" + offers_root(models).hex()
    assert signed["one"] == "0x" + offers_root(models[:1]).hex()
    web.assert_clean()


def test_typed_data_names_a_bad_kind_or_body_field(finished_market) -> None:
    base = finished_market.base_url
    signer = eip712.address_of(KEY)
    bad_kind = httpx.post(
        f"{base}/typed-data", json={"kind": "nonsense", "signer": signer, "body": {}}
    )
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"
    body = {**OFFER, "direction": "SIDEWAYS"}
    bad_body = httpx.post(
        f"{base}/typed-data", json={"kind": "offer", "signer": signer, "body": body}
    )
    assert bad_body.status_code == 422 and bad_body.json()["field"] == "body.direction"
