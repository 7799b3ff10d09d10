"""One nonce sequence per signing key, shared through the market database by every process.

Why: several workers (and API processes) may sign with one operator key. Each asking the node
for its pending count races the others; here the key's row in ``chain_nonce`` is locked with
``SELECT ... FOR UPDATE`` on PostgreSQL while a nonce is taken and the transaction sent, so the
next process waits and then sees the advanced value. The nonce used is never below the node's
own pending count (a transaction sent by anything else still counts). SQLite has no row locks:
there a lock per database file serialises the senders of one process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from adapters.chain.nonces import NonceLease
from market.store import models as m

_TABLE: Table = m.ChainNonce.__table__  # type: ignore[attr-defined]
_SQLITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_REGISTRY = threading.Lock()


class DbNonces:
    """A ``NonceAllocator`` (see ``adapters.chain.nonces``) over the market database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def lease(
        self, chain_id: int, address: str, node_next: Callable[[], int]
    ) -> Iterator[NonceLease]:
        address = address.lower()
        with self._process_lock(), self.engine.begin() as conn:
            insert = sqlite_insert if self._sqlite else pg_insert
            conn.execute(
                insert(_TABLE)
                .values(chain_id=chain_id, address=address, next_nonce=0)
                .on_conflict_do_nothing()
            )
            stored = conn.execute(
                select(_TABLE.c.next_nonce)
                .where(_TABLE.c.chain_id == chain_id, _TABLE.c.address == address)
                .with_for_update()
            ).scalar_one()
            lease = NonceLease(max(int(stored), node_next()))
            yield lease
            if lease.used:
                conn.execute(
                    update(_TABLE)
                    .where(_TABLE.c.chain_id == chain_id, _TABLE.c.address == address)
                    .values(next_nonce=lease.nonce + 1)
                )

    def forget(self) -> None:
        """Drop every stored nonce (after a chain revert): the node's count is used again."""
        with self._process_lock(), self.engine.begin() as conn:
            conn.execute(delete(_TABLE))

    def _process_lock(self) -> AbstractContextManager[Any]:
        if not self._sqlite:
            return nullcontext()
        key = str(self.engine.url)
        with _SQLITE_REGISTRY:
            return _SQLITE_LOCKS.setdefault(key, threading.Lock())


def shared_nonces(database_url: str) -> DbNonces | None:
    """The shared allocator on PostgreSQL (several processes sign with one key); None on
    SQLite, where one process owns the file and keeps its nonces in memory."""
    from market.store.db import is_sqlite, make_engine

    return None if is_sqlite(database_url) else DbNonces(make_engine(database_url, pool_size=2))
