"""EIP-191 signer recovery through coincurve gives eth-account's answer for every signature.

``recover_eip191_signer`` (checksummed) and ``recover_eip191_address`` (lower case) take a
shortcut for the station form (``0x`` + 65 bytes, v 27/28); these cases show they return the
address ``Account.recover_message`` returns for a valid signature, and raise exactly where
eth-account raises, for tampered, out-of-range and malformed ones (and for the forms they hand
to eth-account unchanged)."""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from clearing.trust import (
    SECP256K1_N,
    eip191_sign,
    meter_reading_payload,
    recover_eip191_address,
    recover_eip191_signer,
    secp256k1_key,
)

_RNG = random.Random(18)
_KEYS = ["0x" + _RNG.randbytes(32).hex() for _ in range(8)]
_MESSAGES = [
    meter_reading_payload(
        station=f"ST-{i:03d}",
        evse=1 + i % 2,
        timestamp=1769040000 + 900 * i,
        import_wh=i * 7,
        export_wh=i,
    )
    for i in range(8)
] + [b"", b"\x00" * 200, "π ünïcode".encode()]


def _outcome(fn: object, message: bytes, signature: str) -> tuple[str, str]:
    """("ok", address) or ("raises", "") for one recovery."""
    try:
        return ("ok", str(fn(message, signature)))  # type: ignore[operator]
    except Exception:
        return ("raises", "")


def _eth_account(message: bytes, signature: str) -> str:
    return str(Account.recover_message(encode_defunct(primitive=message), signature=signature))


def _same(message: bytes, signature: str) -> tuple[str, str]:
    ours = _outcome(recover_eip191_signer, message, signature)
    assert ours == _outcome(_eth_account, message, signature), signature
    lower = _outcome(recover_eip191_address, message, signature)
    assert lower == (ours[0], ours[1].lower()), signature
    return ours


def _with(sig: str, *, r: int | None = None, s: int | None = None, v: int | None = None) -> str:
    raw = bytearray(bytes.fromhex(sig[2:]))
    if r is not None:
        raw[:32] = r.to_bytes(32, "big")
    if s is not None:
        raw[32:64] = s.to_bytes(32, "big")
    if v is not None:
        raw[64] = v
    return "0x" + raw.hex()


@pytest.mark.parametrize("key", _KEYS)
def test_valid_signatures_recover_the_signer_as_eth_account_does(key: str) -> None:
    signer = Account.from_key(key).address
    for message in _MESSAGES:
        sig = eip191_sign(secp256k1_key(key), message)
        assert _same(message, sig) == ("ok", signer)
        # eth-account's own signature of the same bytes is byte-equal and recovers the same
        assert (
            "0x" + bytes(Account.sign_message(encode_defunct(message), key).signature).hex() == sig
        )
        tampered = message + b" "
        outcome = _same(tampered, sig)
        assert outcome[0] == "raises" or outcome[1] != signer


def test_flipped_bits_recover_the_same_wrong_address_or_fail_alike() -> None:
    message = _MESSAGES[0]
    sig = eip191_sign(secp256k1_key(_KEYS[0]), message)
    raw = bytes.fromhex(sig[2:])
    for byte in range(64):
        for bit in (0, 7):
            flipped = bytearray(raw)
            flipped[byte] ^= 1 << bit
            assert _same(message, "0x" + flipped.hex()) != (
                "ok",
                Account.from_key(_KEYS[0]).address,
            )


def test_out_of_range_r_s_and_v_fail_alike() -> None:
    message = _MESSAGES[1]
    sig = eip191_sign(secp256k1_key(_KEYS[1]), message)
    s = int.from_bytes(bytes.fromhex(sig[2:])[32:64], "big")
    for bad in (
        _with(sig, r=0),
        _with(sig, s=0),
        _with(sig, r=SECP256K1_N),
        _with(sig, s=SECP256K1_N),
        _with(sig, r=2**256 - 1),
        _with(sig, s=2**256 - 1),
    ):
        assert _same(message, bad) == ("raises", "")
    assert _same(message, _with(sig, r=SECP256K1_N - 1))[0] in ("ok", "raises")
    high_s = _with(sig, s=SECP256K1_N - s)  # the malleated twin, same v: another key
    assert _same(message, high_s)[0] == "ok"
    for v in (0, 1, 2, 26, 27, 28, 29, 34, 35, 36, 37, 38, 255):
        _same(message, _with(sig, v=v))


def test_malformed_and_other_forms_answer_as_eth_account() -> None:
    message = _MESSAGES[2]
    sig = eip191_sign(secp256k1_key(_KEYS[2]), message)
    signer = Account.from_key(_KEYS[2]).address
    assert _same(message, sig[2:]) == ("ok", signer)  # no 0x: handed to eth-account
    assert _same(message, "0x" + sig[2:].upper()) == ("ok", signer)
    assert _same(message, "0X" + sig[2:]) == ("ok", signer)
    for bad in (
        sig[:-2],  # 64 bytes
        sig + "00",  # 66 bytes
        sig[:-1],  # odd length
        "0x" + "zz" + sig[4:],  # not hex
        "0x" + sig[2:10] + " " + sig[11:],  # a space where a digit was
        "0x",
        "",
    ):
        _same(message, bad)
