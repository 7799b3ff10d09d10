"""Hand-written EIP-4361: round trip, eth-account compatibility and every refusal."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from market.auth import siwe
from market.auth.sign_in_store import SignInStore
from market.errors import BadSignature, InvalidMessage, MessageExpired, Unauthenticated

KEY = "0x" + "22" * 32
ADDR = Account.from_key(KEY).address
NOW = 1_800_000_000


def _store() -> SignInStore:
    """A sign-in store on a private in-memory SQLite (every table of the market models)."""
    import market.store.models  # noqa: F401  (registers the tables)

    engine = create_engine("sqlite://", poolclass=StaticPool)
    SQLModel.metadata.create_all(engine)
    return SignInStore(engine)


def _issuer(secret: str = "s3cret", store: SignInStore | None = None) -> siwe.TokenIssuer:
    return siwe.TokenIssuer(
        secret,
        domain="market.test",
        chain_id=31337,
        token_ttl_s=600,
        store=store or _store(),
    )


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
        _issuer("x").check_token(token, NOW)


def test_replayed_message_is_refused() -> None:
    """One signed message yields one token: the nonce is consumed at sign-in."""
    issuer = _issuer()
    text = _text(issuer)
    signature = siwe.sign_text(KEY, text)
    issuer.sign_in(text, signature, NOW + 1)
    with pytest.raises(Unauthenticated, match="already used"):
        issuer.sign_in(text, signature, NOW + 2)


def test_bad_signature_does_not_burn_the_nonce() -> None:
    issuer = _issuer()
    text = _text(issuer)
    with pytest.raises(BadSignature):
        issuer.sign_in(text, siwe.sign_text("0x" + "33" * 32, text), NOW)
    issuer.sign_in(text, siwe.sign_text(KEY, text), NOW + 1)


def test_expired_nonce_is_refused_and_purged() -> None:
    store = _store()
    issuer = _issuer(store=store)
    text = _text(issuer)
    later = NOW + store.nonce_ttl_s + 1
    with pytest.raises(MessageExpired, match="nonce"):
        issuer.sign_in(text, siwe.sign_text(KEY, text), later)
    issuer.new_nonce(later)  # purges the expired row
    with pytest.raises(Unauthenticated, match="not issued"):
        issuer.sign_in(text, siwe.sign_text(KEY, text), later)


def test_revoked_token_is_refused() -> None:
    issuer = _issuer()
    text = _text(issuer)
    token, _, _ = issuer.sign_in(text, siwe.sign_text(KEY, text), NOW)
    issuer.revoke(token, NOW + 1)
    with pytest.raises(Unauthenticated, match="signed out"):
        issuer.check_token(token, NOW + 2)
