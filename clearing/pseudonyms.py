"""Pseudonymous ids for EV users and stations in public bundles and on-chain accounts.

Why: public bundles and the chain must not carry who an EV user is, yet an FSP (who holds the
salt) must be able to link a pseudonym back to its customer to pay them and to prove the link
later. HMAC-SHA256 keyed by the FSP's secret salt gives a stable, non-reversible id per
(FSP, kind, local id); without the salt nobody can test a guess.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["PSEUDONYM_KINDS", "pseudonym", "salted_commitment"]

#: What a pseudonym may stand for; the kind is part of the MAC input so that a user id and a
#: station id that happen to be equal never share a pseudonym.
PSEUDONYM_KINDS = frozenset({"ev_user", "station", "ev"})


def pseudonym(salt: bytes, kind: str, local_id: str) -> str:
    """Stable pseudonym ``"<kind>-<32 hex>"`` of ``local_id`` under the FSP's secret ``salt``."""
    if kind not in PSEUDONYM_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {sorted(PSEUDONYM_KINDS)}")
    if len(salt) < 16:
        raise ValueError("salt: needs at least 16 bytes of secret")
    mac = hmac.new(salt, f"{kind}\x00{local_id}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{mac[:32]}"


def salted_commitment(salt: bytes, value: str) -> str:
    """``0x`` + SHA-256 of ``salt || value``: a value provable later by revealing
    the salt, without publishing the value now."""
    if len(salt) < 16:
        raise ValueError("salt: needs at least 16 bytes of secret")
    return "0x" + hashlib.sha256(salt + value.encode()).hexdigest()
