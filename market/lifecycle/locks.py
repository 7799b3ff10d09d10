"""Mutual exclusion between workers, through the database (never in-process state).

PostgreSQL: a session-level advisory lock held on a dedicated connection for the step; it is
released by the server if the worker dies. SQLite: a lease row (single writer), taken with one
atomic UPDATE and expiring after ``ttl_s`` so a killed worker does not block forever.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from market.store.db import is_sqlite


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def transaction_lock(conn: Connection, name: str) -> None:
    """Hold the lock ``name`` until ``conn``'s transaction ends (PostgreSQL: an advisory
    transaction lock; SQLite serialises its writers itself, so nothing to take)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key(name)})


@contextmanager
def step_lock(engine: Engine, name: str, holder: str, *, ttl_s: float = 120.0) -> Iterator[bool]:
    """Yield True when this holder got the lock ``name``, False when another worker has it."""
    if is_sqlite(str(engine.url)):
        got = _sqlite_acquire(engine, name, holder, ttl_s)
        try:
            yield got
        finally:
            if got:
                with engine.begin() as conn:
                    conn.execute(
                        text(
                            "UPDATE worker_lock SET holder='', expires_at=0 "
                            "WHERE name=:n AND holder=:h"
                        ),
                        {"n": name, "h": holder},
                    )
        return
    with engine.connect() as conn:
        got = bool(
            conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar()
        )
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                conn.commit()


def _dead_local_holder(holder: str) -> bool:
    """True when ``holder`` is "<this host>:<pid>" and that process no longer exists.

    SQLite means one machine, so a lease left by a killed worker is freed at once instead of
    after its TTL.
    """
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _sqlite_acquire(engine: Engine, name: str, holder: str, ttl_s: float) -> bool:
    now = time.time()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT OR IGNORE INTO worker_lock (name, holder, expires_at) VALUES (:n, '', 0)"),
            {"n": name},
        )
        current = conn.execute(
            text("SELECT holder FROM worker_lock WHERE name=:n"), {"n": name}
        ).scalar()
        if current and current != holder and _dead_local_holder(current):
            conn.execute(
                text("UPDATE worker_lock SET expires_at=0 WHERE name=:n AND holder=:h"),
                {"n": name, "h": current},
            )
        taken = conn.execute(
            text(
                "UPDATE worker_lock SET holder=:h, expires_at=:e "
                "WHERE name=:n AND (holder='' OR holder=:h OR expires_at < :now)"
            ),
            {"n": name, "h": holder, "e": now + ttl_s, "now": now},
        ).rowcount
    return taken == 1
