"""M lifecycle workers next to the API processes of ``bench api``, on the same store.

Why: scale-out claims several workers on one PostgreSQL. While the offers are submitted, M
``flexmarket worker`` processes (sharing the operator key, nonces through the database) open
the load session and drive short sessions through open -> close -> clear. Afterwards the
chain is counted: each session must show each operator event once, and the operator's
transaction count must equal the steps expected, so a transition sent twice (even one the
contract reverted) is seen.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from clearing.encoding import uuid_to_bytes32
from market.api.schemas import SessionCreate
from market.client import MarketClient

#: Operator events each short session emits once (open, close, clear) and the load session's.
SHORT_EVENTS = ("SessionCreated", "SessionClosed", "ClearingPosted")
LOAD_EVENTS = ("SessionCreated",)
#: Store states of a cleared short session: with no orders to acknowledge, the dispatch step
#: moves it on to DELIVERING at once; verification waits for the end of delivery, hours on.
CLEARED_STATES = ("CLEARED", "DELIVERING")
#: Seconds from creation to a short session's gate closure (a worker is up by then): time to
#: open it on-chain before the gate on a busy host, short enough to clear during the load.
GATE_IN_S = 10
WORKER_POLL_S = "0.2"


def start_workers(count: int, env: dict[str, str], cwd: Path) -> list[subprocess.Popen[bytes]]:
    """``count`` worker processes, each with its own id, polling often (the bench is short)."""
    procs = []
    for i in range(count):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "market.cli", "--debug", "worker"],
                cwd=cwd,
                env={
                    **env,
                    "FLEXMARKET_WORKER_ID": f"bench-worker-{i}",
                    "FLEXMARKET_WORKER_POLL_S": WORKER_POLL_S,
                },
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        )
    return procs


def open_short_sessions(op: MarketClient, count: int, *, chain_now: int) -> list[str]:
    """``count`` sessions whose gate closes a few seconds from now, for the workers to clear."""
    ids = []
    for i in range(count):
        gate = chain_now + GATE_IN_S + i
        session_id = str(uuid.uuid4())
        op.create_session(
            SessionCreate(
                session_id=session_id,
                gate_closure=gate,
                delivery_start=gate + 3600,
                delivery_end=gate + 3600 + 3600,
                isp_s=900,
            )
        )
        ids.append(session_id)
    return ids


def wait_state(
    url: str,
    session_ids: list[str],
    wanted: tuple[str, ...],
    procs: list[subprocess.Popen[bytes]],
    timeout_s: float,
) -> dict[str, str]:
    """Wait until every session is in a ``wanted`` store state (or the timeout); the states."""
    from sqlalchemy import bindparam, create_engine, text

    from market.store.db import normalise_url

    engine = create_engine(normalise_url(url))
    query = text("SELECT id, state FROM market_session WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with engine.connect() as conn:
                states = {str(r[0]): str(r[1]) for r in conn.execute(query, {"ids": session_ids})}
            done = all(states.get(s) in wanted for s in session_ids)
            if done or time.monotonic() > deadline:
                return states
            for proc in procs:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"a worker exited with {proc.returncode}: {err[-2000:]}")
            time.sleep(0.2)
    finally:
        engine.dispose()


def chain_counts(
    chain: Any,
    *,
    deploy_block: int,
    operator: str,
    operator_txs_before: int,
    load_session: str,
    short_sessions: list[str],
) -> dict[str, Any]:
    """Per session and event, how often the chain saw it, against once; operator txs too."""
    expected = {load_session: LOAD_EVENTS, **dict.fromkeys(short_sessions, SHORT_EVENTS)}
    twice: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    seen = 0
    for session_id, events in expected.items():
        topic = "0x" + uuid_to_bytes32(session_id).hex()
        for event in events:
            n = len(chain.get_events(event, deploy_block, topics=[topic]))
            seen += n
            if n > 1:
                twice.append({"session_id": session_id, "event": event, "count": n})
            elif n == 0:
                missing.append({"session_id": session_id, "event": event})
    sent = int(chain.rpc("eth_getTransactionCount", [operator, "latest"]), 16)
    return {
        "operator_events_expected": sum(len(e) for e in expected.values()),
        "operator_events_seen": seen,
        "posted_twice": twice,
        "not_posted": missing,
        "operator_txs_expected": sum(len(e) for e in expected.values()),
        "operator_txs_sent": sent - operator_txs_before,
    }


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    from adapters.chain.anvil import kill_process_group

    for proc in procs:
        kill_process_group(proc.pid, wait=proc.wait)
