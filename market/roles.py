"""On-chain roles, cached for a short time so each signed write does not cost an RPC round trip.

The chain is the source of truth: a role granted or revoked there takes effect here within
``ttl_s`` seconds (the indexer also drops cache entries when it sees RoleGranted/RoleRevoked).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from eth_hash.auto import keccak

from market.errors import ChainUnavailable

ROLE_NAMES = ("MARKET_OPERATOR", "DSO", "FSP", "METER_ORACLE", "ARBITER", "CPO")


def role_id(name: str) -> bytes:
    """OpenZeppelin convention: ``keccak256("<NAME>_ROLE")``."""
    return keccak(f"{name}_ROLE".encode())


class RoleCache:
    """``roles_of(address)`` backed by a lookup function (usually the chain) with a TTL."""

    def __init__(
        self,
        lookup: Callable[[str], Iterable[str]],
        *,
        ttl_s: float,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self.ttl_s = ttl_s
        self._now = now
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def roles_of(self, address: str) -> frozenset[str]:
        address = address.lower()
        now = self._now()
        with self._lock:
            hit = self._cache.get(address)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        try:
            roles = frozenset(self._lookup(address))
        except ChainUnavailable:
            raise
        except Exception as exc:  # any RPC failure: say so rather than guessing a role
            raise ChainUnavailable(f"role lookup failed: {exc}", field="signer") from exc
        with self._lock:
            self._cache[address] = (now, roles)
        return roles

    def invalidate(self, address: str | None = None) -> None:
        with self._lock:
            if address is None:
                self._cache.clear()
            else:
                self._cache.pop(address.lower(), None)
