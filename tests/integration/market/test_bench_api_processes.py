"""`bench api --processes --workers`: several uvicorn processes and lifecycle workers on one
PostgreSQL lose and duplicate no offer, and post nothing twice on-chain.

The benchmark empties the database it is given, so this test creates a throwaway database on
the test server (never the shared one) and drops it afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from market.store.db import normalise_url

PG_ENV = "FLEXMARKET_TEST_POSTGRES_URL"
ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def bench_db() -> Iterator[str]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} not set (scripts/ci/start-postgres.sh starts a server)")
    name = f"flexmarket_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_api_processes_and_two_workers_store_every_offer_once_and_post_each_step_once(
    bench_db: str,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "market.cli",
            "bench",
            "api",
            "--offers",
            "60",
            "--clients",
            "3",
            "--db",
            "postgresql",
            "--db-url",
            bench_db,
            "--processes",
            "1,2",
            "--workers",
            "2",
            "--sessions",
            "2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["processes"] for line in lines] == [1, 2]
    assert [line["api_processes_seen"] for line in lines] == [1, 2]
    for line in lines:
        assert line["accepted"] == line["stored_rows"] == 60 and line["errors"] == 0
        assert line["lost"] == line["duplicated"] == line["unexpected"] == 0
        assert line["replays_sent"] == line["replays_answered_as_replay"] == 3
        assert line["offers_per_s"] > 0
        # Two workers on the store: the load session opened once, two short sessions opened,
        # closed and cleared once each, and no operator transaction beyond those seven.
        assert line["lifecycle_workers"] == 2 and line["short_sessions_cleared"] == 2
        assert line["posted_twice"] == line["not_posted"] == []
        assert line["operator_events_seen"] == line["operator_events_expected"] == 7
        assert line["operator_txs_sent"] == line["operator_txs_expected"] == 7


def test_a_malformed_process_list_is_a_one_line_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "market.cli", "bench", "api", "--processes", "1,x"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "--processes" in proc.stderr and "'1,x'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
