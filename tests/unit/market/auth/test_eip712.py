"""The hand-rolled EIP-712 digest and recovery agree with eth-account."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from market.auth import eip712
from market.errors import BadSignature, InvalidMessage

KEY = "0x" + "11" * 32
DOMAIN = eip712.Domain(chain_id=31337, verifying_contract="0x" + "ab" * 20)


def _env(**overrides):
    env = eip712.sign_message(
        DOMAIN, KEY, kind="offer", body={"a": 1, "b": [2, 3]}, expiry=int(time.time()) + 60
    )
    env.update(overrides)
    return env


def test_digest_matches_eth_account_and_signature_verifies_there() -> None:
    env = _env()
    full = eip712.typed_data(
        DOMAIN,
        kind="offer",
        message_id=env["message_id"],
        signer=env["signer"],
        expiry=env["expiry"],
        body=env["body"],
    )
    signable = encode_typed_data(full_message=full)
    assert Account.recover_message(signable, signature=env["signature"]) == env["signer"]
    signed = Account.sign_typed_data(KEY, full_message=full)
    assert signed.signature.hex().removeprefix("0x") == env["signature"].removeprefix("0x")


def test_verify_envelope_returns_signer() -> None:
    env = _env()
    signer, _ = eip712.verify_envelope(DOMAIN, env)
    assert signer == Account.from_key(KEY).address.lower()


@pytest.mark.parametrize(
    "change",
    [
        {"body": {"a": 2, "b": [2, 3]}},
        {"kind": "request"},
        {"expiry": 1},
        {"signer": "0x" + "22" * 20},
    ],
)
def test_any_tampering_breaks_the_signature(change) -> None:
    with pytest.raises(BadSignature):
        eip712.verify_envelope(DOMAIN, _env(**change))


def test_other_domain_is_refused() -> None:
    env = _env()
    other = eip712.Domain(chain_id=1, verifying_contract=DOMAIN.verifying_contract)
    with pytest.raises(BadSignature):
        eip712.verify_envelope(other, env)


def test_floats_are_refused_with_path() -> None:
    with pytest.raises(InvalidMessage) as err:
        eip712.canonical_json({"x": [1, {"y": 0.5}]})
    assert err.value.field == "body.x[1].y"


def test_lone_surrogate_is_invalid_message_not_a_crash() -> None:
    with pytest.raises(InvalidMessage) as err:
        eip712.body_hash({"code": "a\ud800"}, validated=True)
    assert err.value.field == "body.code"
