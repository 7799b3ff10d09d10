"""The proof of a UFTP offer: strict shape, and it proves exactly one offer on one market."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from base64 import b64decode, b64encode
from decimal import Decimal

import pytest
from eth_account import Account
from nacl.signing import SigningKey
from pydantic import ValidationError
from shapeshifter_uftp.transport import seal_message
from shapeshifter_uftp.uftp import FlexOffer as UftpOffer
from shapeshifter_uftp.uftp import FlexOfferOption as UftpOption
from shapeshifter_uftp.uftp import FlexOfferOptionISP

from clearing.messages import FlexRequest, RequestIsp
from market.uftp.binding import sign_binding
from market.uftp.convert import Window, from_uftp_offer
from market.uftp.proof import OfferProof, check_proof, proofs_bundle

TZ = "Europe/Amsterdam"
MARKET = "0x" + "11" * 20
ETH_KEY = "0x" + "42" * 32
FSP = Account.from_key(ETH_KEY).address.lower()
DOMAIN = "agr.example.com"


def _window() -> Window:
    t = int(dt.datetime.fromisoformat("2026-12-06T10:00:00+01:00").timestamp())
    return Window(str(uuid.uuid4()), t, t + 4 * 900, 900, t - 600, TZ)


def _request(window: Window) -> FlexRequest:
    return FlexRequest(
        request_id=str(uuid.uuid4()),
        session_id=window.session_id,
        congestion_point="CP-1",
        direction="UP",
        revision=1,
        expires_at=window.gate_closure,
        max_price_per_mwh=400_000_000,
        budget_units=50_000_000,
        all_or_nothing=False,
        isps=tuple(
            RequestIsp(isp_index=i, disposition="Requested", min_power_w=0, max_power_w=20_000)
            for i in range(window.n_isps)
        ),
    )


def _signed_offer(window: Window) -> tuple[UftpOffer, str, str]:
    """A UFTP FlexOffer, its sealed bytes (base64) and the AGR's public key (base64)."""
    sk = SigningKey.generate()
    msg = UftpOffer(
        sender_domain=DOMAIN,
        recipient_domain="market.flexmarket.example",
        message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),
        time_stamp=dt.datetime.now(dt.UTC).isoformat(),
        isp_duration="PT15M",
        time_zone=TZ,
        period=window.period(),
        congestion_point="ean.871685900000000001",
        expiration_date_time="2026-12-06T05:00:00Z",
        flex_request_message_id=str(uuid.uuid4()),
        currency="EUR",
        offer_options=[
            UftpOption(
                option_reference="a",
                price=Decimal("0.5"),
                isps=[
                    FlexOfferOptionISP(power=-5_000, start=window.uftp_start(k)) for k in range(4)
                ],
            )
        ],
    )
    private = b64encode(bytes(sk) + bytes(sk.verify_key)).decode()
    sealed = seal_message(msg, private)
    return msg, b64encode(sealed).decode(), b64encode(bytes(sk.verify_key)).decode()


def _proof(window: Window, **over: str) -> tuple[OfferProof, UftpOffer]:
    msg, sealed_b64, public = _signed_offer(window)
    binding = sign_binding(
        ETH_KEY, chain_id=31337, market=MARKET, domain=DOMAIN, role="AGR", public_key=public
    )
    fields = {
        "scheme": "uftp-ed25519",
        "sender_domain": DOMAIN,
        "public_key": public,
        "binding_signature": binding["binding_signature"],
        "message_id": str(msg.message_id),
        "sealed_b64": sealed_b64,
        **over,
    }
    return OfferProof.model_validate(fields), msg


def test_a_proof_proves_its_offer_on_its_market_only() -> None:
    window = _window()
    request = _request(window)
    proof, msg = _proof(window)
    offer = from_uftp_offer(msg, window=window, fsp=FSP, request=request)
    terms = {"request": request, "window": window, "chain_id": 31337, "market": MARKET}
    assert check_proof(proof, offer, **terms) is None  # type: ignore[arg-type]

    cheaper = offer.model_copy(
        update={"options": (offer.options[0].model_copy(update={"price_per_mwh": 1}),)}
    )
    sealed = bytearray(b64decode(proof.sealed_b64))
    sealed[-5] ^= 1
    forged = proof.model_copy(update={"sealed_b64": b64encode(bytes(sealed)).decode()})
    renamed = proof.model_copy(update={"message_id": str(uuid.uuid4())})
    cases = (
        (proof, cheaper, terms, "uftp.offer_mismatch", "sealed_b64"),
        (forged, offer, terms, "uftp.signature_invalid", "sealed_b64"),
        (renamed, offer, terms, "uftp.offer_mismatch", "message_id"),
        (proof, offer, {**terms, "chain_id": 1}, "uftp.binding_invalid", "binding_signature"),
        (
            proof,
            offer,
            {**terms, "market": "0x" + "22" * 20},
            "uftp.binding_invalid",
            "binding_signature",
        ),
    )
    for p, o, t, code, field in cases:
        refused = check_proof(p, o, **t)  # type: ignore[arg-type]
        assert refused is not None and (refused.code, refused.field) == (code, field)


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"scheme": "rsa"}, "scheme"),
        ({"public_key": "not base64"}, "public_key"),
        ({"public_key": b64encode(b"short").decode()}, "public_key"),
        ({"sealed_b64": "@@@"}, "sealed_b64"),
        ({"sealed_b64": b64encode(b"x" * 10).decode()}, "sealed_b64"),
        ({"binding_signature": "0x12"}, "binding_signature"),
        ({"sender_domain": "Not A Domain"}, "sender_domain"),
    ],
)
def test_a_malformed_proof_names_its_field(over: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _proof(_window(), **over)
    assert exc.value.errors()[0]["loc"] == (field,)


def test_the_uftp_bundle_is_canonical_and_sorted_by_offer() -> None:
    window = _window()
    a, _ = _proof(window)
    b, _ = _proof(window)
    one = proofs_bundle(window.session_id, [("b", b), ("a", a)])
    assert one == proofs_bundle(window.session_id, [("a", a), ("b", b)])
    doc = json.loads(one)
    assert doc["kind"] == "uftp_offer_proofs" and doc["session_id"] == window.session_id
    assert [p["offer_id"] for p in doc["proofs"]] == ["a", "b"]
    assert doc["proofs"][0]["sealed_b64"] == a.sealed_b64
