"""Hand-written EIP-4361: round trip, eth-account compatibility and every refusal."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from market.auth import siwe
from market.errors import BadSignature, InvalidMessage, MessageExpired, Unauthenticated

KEY = "0x" + "22" * 32
ADDR = Account.from_key(KEY).address
NOW = 1_800_000_000


def _issuer() -> siwe.TokenIssuer:
    return siwe.TokenIssuer("s3cret", domain="market.test", chain_id=31337, token_ttl_s=600)


def _text(issuer, **kw) -> str:
    args = {
        "domain": "market.test",
        "address": ADDR,
        "uri": "http://market.test",
        "chain_id": 31337,
        "nonce": issuer.new_nonce(NOW),
        "now": NOW,
    }
    args.update(kw)
    return siwe.build_message(**args)


def test_parse_round_trip_and_eth_account_signature() -> None:
    issuer = _issuer()
    text = _text(issuer)
    assert siwe.parse(text).to_text() == text
    sig = Account.sign_message(encode_defunct(text=text), KEY).signature.hex()
    token, address, _ = issuer.sign_in(text, "0x" + sig.removeprefix("0x"), NOW + 1)
    assert address == ADDR.lower()
    assert issuer.check_token(token, NOW + 2) == ADDR.lower()


@pytest.mark.parametrize(
    ("kw", "exc"),
    [
        ({"domain": "evil.test"}, Unauthenticated),
        ({"chain_id": 1}, Unauthenticated),
        ({"nonce": "12345678abcdefgh00000000deadbeef"}, Unauthenticated),
        ({"ttl_s": -5}, MessageExpired),
    ],
)
def test_sign_in_refusals(kw, exc) -> None:
    issuer = _issuer()
    text = _text(issuer, **kw)
    with pytest.raises(exc):
        issuer.sign_in(text, siwe.sign_text(KEY, text), NOW + 1)


def test_wrong_key_and_bad_text() -> None:
    issuer = _issuer()
    text = _text(issuer)
    with pytest.raises(BadSignature):
        issuer.sign_in(text, siwe.sign_text("0x" + "33" * 32, text), NOW)
    with pytest.raises(InvalidMessage):
        siwe.parse("hello")


def test_token_expiry_and_forgery() -> None:
    issuer = _issuer()
    text = _text(issuer)
    token, _, expiry = issuer.sign_in(text, siwe.sign_text(KEY, text), NOW)
    with pytest.raises(Unauthenticated):
        issuer.check_token(token, expiry + 1)
    with pytest.raises(Unauthenticated):
        _issuer_other = siwe.TokenIssuer("x", domain="market.test", chain_id=31337, token_ttl_s=1)
        _issuer_other.check_token(token, NOW)
