"""Pseudonyms are stable per salt, differ across salts and kinds, and refuse weak input."""

import pytest

from clearing.pseudonyms import pseudonym, salted_commitment

SALT_A = b"a" * 16
SALT_B = b"b" * 16


def test_pseudonym_is_stable_and_salt_dependent() -> None:
    first = pseudonym(SALT_A, "ev_user", "alice")
    assert first == pseudonym(SALT_A, "ev_user", "alice")
    assert first.startswith("ev_user-") and len(first) == len("ev_user-") + 32
    assert first != pseudonym(SALT_B, "ev_user", "alice")
    assert first != pseudonym(SALT_A, "station", "alice")
    assert "alice" not in first


def test_pseudonym_refuses_unknown_kind_and_short_salt() -> None:
    with pytest.raises(ValueError, match="kind"):
        pseudonym(SALT_A, "plate", "x")
    with pytest.raises(ValueError, match="salt"):
        pseudonym(b"short", "ev_user", "x")


def test_salted_commitment_binds_salt_and_value() -> None:
    c = salted_commitment(SALT_A, "2026-12-06T07:15:00Z")
    assert c == salted_commitment(SALT_A, "2026-12-06T07:15:00Z")
    assert c != salted_commitment(SALT_B, "2026-12-06T07:15:00Z")
    assert c != salted_commitment(SALT_A, "2026-12-06T07:30:00Z")
    with pytest.raises(ValueError, match="salt"):
        salted_commitment(b"", "x")
