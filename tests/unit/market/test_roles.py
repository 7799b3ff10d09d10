"""Role cache: TTL, invalidation, and chain failures named rather than guessed."""

from __future__ import annotations

import pytest

from market.errors import ChainUnavailable
from market.roles import RoleCache, role_id


def test_ttl_and_invalidate() -> None:
    now = [0.0]
    calls: list[str] = []
    roles = {"0xaa": {"FSP"}}

    def lookup(address: str) -> set[str]:
        calls.append(address)
        return roles.get(address, set())

    cache = RoleCache(lookup, ttl_s=5, now=lambda: now[0])
    assert cache.roles_of("0xAA") == {"FSP"}
    roles["0xaa"] = set()
    now[0] = 4.9
    assert cache.roles_of("0xaa") == {"FSP"}  # cached
    now[0] = 5.0
    assert cache.roles_of("0xaa") == frozenset()  # expired: re-read from the chain
    roles["0xaa"] = {"DSO"}
    cache.invalidate("0xAA")
    assert cache.roles_of("0xaa") == {"DSO"}
    assert len(calls) == 3


def test_lookup_failure_is_chain_unavailable() -> None:
    def broken(address: str) -> set[str]:
        raise ConnectionError("connection refused")

    with pytest.raises(ChainUnavailable) as err:
        RoleCache(broken, ttl_s=1).roles_of("0xaa")
    assert "connection refused" in str(err.value)


def test_role_ids_follow_openzeppelin_convention() -> None:
    from eth_utils import keccak

    assert role_id("DSO") == keccak(text="DSO_ROLE")
