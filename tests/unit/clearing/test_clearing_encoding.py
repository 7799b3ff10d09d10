"""Canonical JSON and id hashing."""

from __future__ import annotations

import uuid

import pytest

from clearing.encoding import (
    CanonicalEncodingError,
    canonical_json,
    code_to_bytes32,
    hex32,
    keccak256,
    uuid_to_bytes32,
)


def test_sorted_keys_no_whitespace_utf8() -> None:
    obj = {"b": [1, True, None], "a": {"z": 'é\n"', "y": -3}, "€": 0}
    assert canonical_json(obj) == '{"a":{"y":-3,"z":"é\\n\\""},"b":[1,true,null],"€":0}'.encode()


def test_keys_sorted_by_utf16_code_units() -> None:
    # RFC 8785 example: U+1F600 (surrogate pair D83D) sorts before U+FB33 in UTF-16.
    obj = {"\ufb33": 1, "\U0001f600": 2}
    assert canonical_json(obj) == '{"\U0001f600":2,"\ufb33":1}'.encode()


def test_big_integers_are_exact() -> None:
    assert canonical_json({"x": 2**200}) == b'{"x":' + str(2**200).encode() + b"}"


def test_float_anywhere_is_refused_with_path() -> None:
    with pytest.raises(CanonicalEncodingError) as info:
        canonical_json({"a": [1, {"b": 1.5}]})
    assert info.value.path == "$.a[1].b"


def test_other_types_refused() -> None:
    with pytest.raises(CanonicalEncodingError):
        canonical_json({"a": {1, 2}})
    with pytest.raises(CanonicalEncodingError):
        canonical_json({1: 2})


def test_keccak_known_vector() -> None:
    assert hex32(keccak256(b"")) == (
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_ids() -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert uuid_to_bytes32(u) == uuid_to_bytes32(str(u)) == keccak256(u.bytes)
    assert code_to_bytes32("871687400000000001") == keccak256(b"871687400000000001")
    assert len(uuid_to_bytes32(u)) == 32


def test_fast_and_explicit_paths_agree() -> None:
    from clearing import trust

    samples = [
        {"b": [1, {"z": None, "a": "\u00e9\u2028\x7f"}], "a": -(2**70), "c": (True, False)},
        {"k\u00e9": 1, "k": 2},  # non-ASCII key: explicit path
        ["\ud800x"],  # lone surrogate: refused
    ]
    for obj in samples:
        out: list[str] = []
        try:
            trust._encode(obj, "$", out)
            slow: bytes | None = "".join(out).encode("utf-8")
        except (CanonicalEncodingError, UnicodeEncodeError):
            slow = None
        if slow is None:
            with pytest.raises(CanonicalEncodingError):
                canonical_json(obj)
        else:
            assert canonical_json(obj) == slow


def test_lone_surrogate_named() -> None:
    with pytest.raises(CanonicalEncodingError) as info:
        canonical_json({"a": ["\ud800"]})
    assert info.value.path == "$.a[0]"
