"""Nonce allocation: who hands out the next nonce of a signing key.

Why an interface: one process keeps nonces in memory (``LocalNonces``, one lock per key);
several processes signing with one key need one shared allocator, which the market provides
over its database (``market.nonces.DbNonces``: ``SELECT ... FOR UPDATE`` on PostgreSQL). The
lease is held while the transaction is signed and sent, so no two senders get one nonce.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol


@dataclass
class NonceLease:
    """The nonce a sender may use; set ``used`` once the node accepted a transaction with it."""

    nonce: int
    used: bool = False


class NonceAllocator(Protocol):
    def lease(
        self, chain_id: int, address: str, node_next: Callable[[], int]
    ) -> AbstractContextManager[NonceLease]:
        """Hold ``address``'s next nonce (never below ``node_next()``, the node's pending
        count) until the block exits; a used lease advances it by one."""
        ...

    def forget(self) -> None:
        """Drop what is remembered (after a chain revert); the node is asked again."""
        ...


class LocalNonces:
    """In-memory allocator for one process: one lock per key, the node asked on first use."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, str], int] = {}
        self._locks: dict[tuple[int, str], threading.Lock] = {}
        self._registry = threading.Lock()

    @contextmanager
    def lease(
        self, chain_id: int, address: str, node_next: Callable[[], int]
    ) -> Iterator[NonceLease]:
        key = (chain_id, address.lower())
        with self._registry:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            nonce = self._next.get(key)
            lease = NonceLease(node_next() if nonce is None else nonce)
            try:
                yield lease
            finally:
                if lease.used:
                    self._next[key] = lease.nonce + 1
                else:
                    self._next.pop(key, None)  # unsure what the node has: ask it next time

    def forget(self) -> None:
        with self._registry:
            self._next.clear()
