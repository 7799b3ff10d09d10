"""The store on SQLite and PostgreSQL: migrations, worker locks, concurrent idempotent writes."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect

from market.lifecycle.locks import step_lock
from market.store.db import downgrade, make_engine, upgrade

pytestmark = pytest.mark.integration

TABLES = {
    "participant",
    "congestion_point",
    "asset",
    "market_session",
    "flex_request",
    "prognosis",
    "offer",
    "offer_receipt",
    "flex_order",
    "dispatch_status",
    "meter_readings",
    "meter_events",
    "settlement",
    "message_log",
    "lifecycle_step",
    "bundle",
    "indexer_cursor",
    "indexer_block",
    "indexer_undo",
    "chain_nonce",
    "worker_lock",
}


def test_migrations_upgrade_downgrade_upgrade(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)  # idempotent
    engine = make_engine(db_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(db_url, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(db_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_step_lock_is_exclusive_across_holders(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with step_lock(engine, "session:x", "worker-1") as first:
        assert first
        with step_lock(engine, "session:x", "worker-2") as second:
            assert not second
        with step_lock(engine, "session:y", "worker-2") as other:
            assert other  # a different session is free
    with step_lock(engine, "session:x", "worker-2") as after_release:
        assert after_release
    engine.dispose()


def test_many_threads_one_lock_exactly_one_winner(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    winners: list[str] = []
    attempts = threading.Semaphore(0)
    barrier = threading.Barrier(6)
    all_tried = threading.Event()

    def contend(i: int) -> None:
        barrier.wait(timeout=10)
        with step_lock(engine, "session:race", f"w{i}") as got:
            attempts.release()
            if got:
                winners.append(f"w{i}")
                all_tried.wait(timeout=15)  # hold the lock until everyone has tried

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for _ in range(6):
        assert attempts.acquire(timeout=15)
    all_tried.set()
    for t in threads:
        t.join(timeout=15)
    assert len(winners) == 1
    engine.dispose()
