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
        {"message_id": "another"},
        {"summary": "Offer of 1 W"},
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


OFFER = {
    "offer_id": "6f1c7a52-0c4e-4a57-9d0e-3a8b1f2c4d5e",
    "session_id": "0b9e3f7a-1d2c-4e5f-8a9b-c0d1e2f3a4b5",
    "congestion_point": "CP-1",
    "direction": "UP",
    "options": [
        {"option_ref": "a", "price_per_mwh": 150_000_000, "isps": [{"power_w": 11000}]},
        {"option_ref": "b", "price_per_mwh": 90_500_000, "isps": [{"power_w": -5000}] * 3},
    ],
}


def test_the_typed_data_shows_what_an_offer_says_next_to_the_body_hash() -> None:
    full = eip712.typed_data(
        DOMAIN, kind="offer", message_id="m", signer=KEY[:42], expiry=1, body=OFFER
    )
    names = [f["name"] for f in full["types"]["FlexMarketMessage"]]
    assert names[-2:] == ["summary", "bodyHash"]
    summary = full["message"]["summary"]
    for shown in (
        "6f1c7a52-0c4e",
        "0b9e3f7a-1d2c",
        "CP-1",
        "direction UP",
        "150.00 EUR/MWh",
        "11000 W in 1 ISPs",
        "5000 W in 3 ISPs",
        "90.50 EUR/MWh",
    ):
        assert shown in summary


def test_an_offer_summary_shows_energy_in_wh_with_the_sessions_isp_length() -> None:
    """11 000 W for one 900 s ISP is 2 750 Wh; 3 x 5 000 W for 900 s is 3 750 Wh. The signer
    and the service both pass the session's ``isp_s``: the same body signed without it, or for
    another ISP length, does not verify."""
    full = eip712.typed_data(
        DOMAIN, kind="offer", message_id="m", signer=KEY[:42], expiry=1, body=OFFER, isp_s=900
    )
    summary = full["message"]["summary"]
    assert "a: 2750 Wh, up to 11000 W in 1 ISPs of 900 s at 150.00 EUR/MWh" in summary
    assert "b: 3750 Wh, up to 5000 W in 3 ISPs of 900 s at 90.50 EUR/MWh" in summary
    env = eip712.sign_message(DOMAIN, KEY, kind="offer", body=OFFER, expiry=9, isp_s=900)
    assert env["summary"] == summary
    assert eip712.verify_envelope(DOMAIN, env, isp_s=900)[0] == eip712.address_of(KEY)
    for other in (None, 300):
        with pytest.raises(InvalidMessage) as err:
            eip712.verify_envelope(DOMAIN, env, isp_s=other)
        assert err.value.field == "summary"


def test_a_request_summary_shows_budget_and_maximum_price() -> None:
    body = {
        "request_id": "r",
        "session_id": "s",
        "congestion_point": "CP",
        "direction": "DOWN",
        "budget_units": 12_345_678,
        "max_price_per_mwh": 200_000_000,
        "isps": [{"max_power_w": 7000}, {"max_power_w": 9000}],
    }
    summary = eip712.sign_message(DOMAIN, KEY, kind="request", body=body, expiry=9)["summary"]
    assert "budget 12.345678 EUR" in summary
    assert "max price 200.00 EUR/MWh" in summary
    assert "up to 9000 W in 2 ISPs" in summary


@pytest.mark.parametrize("summary", [None, "Offer of 1 W at 0.01 EUR/MWh", ""])
def test_a_summary_other_than_the_body_s_is_refused_naming_the_field(summary) -> None:
    """Even when correctly signed: a page that shows the wallet a nicer line than the body
    says is exactly what the summary exists to stop."""
    env = eip712.sign_message(DOMAIN, KEY, kind="offer", body=OFFER, expiry=2**40)
    if summary is None:
        del env["summary"]
    else:
        signer = eip712.address_of(KEY)
        forged = eip712.eip712_digest(
            chain_id=DOMAIN.chain_id,
            verifying_contract=DOMAIN.verifying_contract,
            kind="offer",
            message_id=env["message_id"],
            signer=bytes.fromhex(signer[2:]),
            expiry=2**40,
            summary=summary,
            body_hash32=eip712.body_hash(OFFER),
        )
        env.update(summary=summary, signature=eip712.sign_digest(KEY, forged))
    with pytest.raises(InvalidMessage) as err:
        eip712.verify_envelope(DOMAIN, env)
    assert err.value.field == "summary"
    assert summary is None or "body says 'Offer 6f1c7a52" in str(err.value)


def test_odd_bodies_summarize_without_raising() -> None:
    from market.auth.summary import summarize

    assert summarize("offer", [1]) == "offer"
    assert summarize("offer", {"options": [{"isps": [{"power_w": "x"}]}]}) == "offer"
    assert summarize("unknown_kind", {"a": 1}) == "unknown_kind"
    assert len(summarize("dispute_evidence", {"reason": "x" * 5000})) < 300
    assert summarize("readings_digests", {"digests": [{"count": "x"}]}) == "readings_digests"
    assert summarize("readings_digests", {"session_id": "s", "digests": [{"count": 2}, 7]}) == (
        "Readings digests for session s: 1 digests of 1 stations, 2 readings"
    )


def test_the_summary_shows_no_control_or_direction_characters() -> None:
    """A name with a newline, a NUL or a right-to-left override cannot reshape the wallet's
    line (and a NUL in the body is still reported on the body's field)."""
    from market.auth.summary import summarize

    line = summarize("participant", {"name": "a\nb\x00c\u202ed"})
    assert line == "Participant: name a\ufffdb\ufffdc\ufffdd"
