"""Claim codes (market/participant/claim.py): the format, the checksum that catches a typo,
the key derived from the code alone, and a signed Withdrawal that recovers to the claim."""

from __future__ import annotations

import pytest
from eth_account import Account

from adapters.chain.withdrawal_sig import sign_withdrawal, withdrawal_digest
from market.participant.claim import PREFIX, check_recipient, claim_account, new_claim
from market.participant.errors import ParticipantError


def test_a_code_is_grouped_base32_and_derives_its_address() -> None:
    claim = new_claim()
    groups = claim.code.split("-")
    assert groups[0] == PREFIX and len(groups) == 9 and all(len(g) == 4 for g in groups[1:])
    assert claim_account(claim.code).address.lower() == claim.address
    # case, spaces and dashes do not matter; the key is the code's alone
    loose = " ".join(claim.code.lower().split("-"))
    assert claim_account(loose).key == claim_account(claim.code).key
    assert new_claim().address != claim.address


def test_a_mistyped_code_is_refused_naming_code() -> None:
    code = new_claim().code
    last = code[-1]
    typo = code[:-1] + ("A" if last != "A" else "B")
    for bad, why in (
        (typo, "checksum"),
        (code[:-4], "32 characters"),
        (code.replace(PREFIX, "XYZ", 1), "starts with"),
        (code[:-1] + "1", "letters"),
    ):
        with pytest.raises(ParticipantError) as err:
            claim_account(bad)
        assert err.value.field == "code" and why in err.value.reason, bad


def test_the_recipient_must_be_a_non_zero_address() -> None:
    check_recipient("0x" + "12" * 20)
    for bad in ("0x" + "00" * 20, "0x12", "wallet"):
        with pytest.raises(ParticipantError) as err:
            check_recipient(bad)
        assert err.value.field == "to"


def test_a_signed_withdrawal_recovers_to_the_claim_address() -> None:
    account = claim_account(new_claim().code)
    market, to = "0x" + "4d" * 20, "0x" + "12" * 20
    r, vs = sign_withdrawal(account.key, 31337, market, to, 3, 1_700_000_000)
    s = int.from_bytes(vs, "big") & ((1 << 255) - 1)
    v = 27 + (int.from_bytes(vs, "big") >> 255)
    digest = withdrawal_digest(31337, market, account.address, to, 3, 1_700_000_000)
    signature = r + s.to_bytes(32, "big") + bytes([v])
    assert Account._recover_hash(digest, signature=signature) == account.address
    # another nonce, recipient or deadline is another digest: the signature does not carry over
    assert withdrawal_digest(31337, market, account.address, to, 4, 1_700_000_000) != digest
