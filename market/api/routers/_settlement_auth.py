"""Signed writes of the settlement routes, checked here (they are not market core kinds):
signature over the exact body, expiry, on-chain role, and idempotency by message id."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from market.auth.eip712 import verify_envelope
from market.core import MarketCore
from market.errors import InvalidMessage, MessageExpired, RoleRequired


async def verified_envelope(
    core: MarketCore, request: Request, *, kind: str, roles: set[str]
) -> tuple[dict[str, Any], str]:
    """(raw envelope, lower-case signer) of a valid signed message of ``kind``."""
    raw = await request.json()
    if not isinstance(raw, dict) or raw.get("kind") != kind:
        raise InvalidMessage(f"must be {kind!r} for this endpoint", field="kind")
    signer, _ = verify_envelope(core.domain, raw)
    now = core.clock.now()
    expiry = int(raw["expiry"])
    if expiry <= now:
        raise MessageExpired(f"expired at {expiry}, now is {int(now)}", field="expiry")
    if expiry > now + core.max_message_ttl_s:
        raise MessageExpired(f"more than {core.max_message_ttl_s} s in the future", field="expiry")
    held = set(core.roles.roles_of(signer))
    if not held & roles:
        raise RoleRequired(f"{kind} needs one of {sorted(roles)}", field="signer")
    return raw, signer
