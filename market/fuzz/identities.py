"""The fuzzer's participants: a dev key per role, signed in with SIWE to get a bearer token."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from market.auth import eip712
from market.client import MarketClient

#: Role names the fuzzer signs in as, in the order the runs use them.
ROLES = ("operator", "dso", "fsp")


@dataclass(frozen=True)
class Identity:
    """One signed-in participant (``token`` None: anonymous)."""

    role: str
    private_key: str | None
    address: str | None
    token: str | None


ANONYMOUS = Identity("anonymous", None, None, None)


def sign_in(base_url: str, role: str, private_key: str, now: Callable[[], float]) -> Identity:
    """Sign in over the API (one-time nonce, SIWE) and keep the bearer token."""
    with MarketClient(base_url, private_key, now=now) as client:
        token = client.sign_in()
    return Identity(role, private_key, eip712.address_of(private_key), token)


def sign_in_all(
    base_url: str, keys: Mapping[str, str], now: Callable[[], float]
) -> dict[str, Identity]:
    """An identity per role in ``ROLES`` (keys maps role -> private key)."""
    return {role: sign_in(base_url, role, keys[role], now) for role in ROLES}
