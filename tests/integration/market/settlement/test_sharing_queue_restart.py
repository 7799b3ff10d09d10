"""Issue 19: the FSP gateway's revenue-sharing queue survives a restart, also after SIGKILL.

A gateway process queues a dispatched session's contributions in its own database (SQLite
file or PostgreSQL) while the market cannot take them, and is killed with SIGKILL. The next
process, on the same database, posts them and names the payees; posting again changes
nothing at the market (real anvil, store and API in-process, a real child process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from eth_account import Account

from clearing.settlement.revenue import UserContribution
from market.clearing_house import contributions as contribution_store
from market.fsp.config import NettingConfig
from market.fsp.netting import RevenueSharing
from market.fsp.sharing_queue import SharingQueue
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
SID = "44444444-4444-4444-8444-444444444444"

# The first gateway process: queues the session's plan, its sharing fails (the market is on
# a closed port), then it is killed hard before anything else happens.
CHILD = textwrap.dedent(
    """
    import os, signal, socket, sys
    import sqlalchemy as sa
    from market.agents.fsp import DispatchPlan, Incentive
    from market.client import MarketClient
    from market.fsp.config import NettingConfig
    from market.fsp.netting import RevenueSharing
    from market.fsp.sharing_queue import SharingQueue
    from market.participant.participant import Participant

    url, key, sid, user = sys.argv[1:5]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    participant = Participant(MarketClient(f"http://127.0.0.1:{port}", key, timeout_s=2))
    cfg = NettingConfig(ev_users={"ev-1": user})
    sharing = RevenueSharing(SharingQueue(sa.create_engine(url)))
    plan = DispatchPlan(schedules={}, by_point={}, shortfalls={}, misses=[],
                        incentives=[Incentive("ev-1", 1_200, 300, 0, 0)])
    sharing.add(participant, cfg, sid, plan)
    failed = []
    sharing.retry(participant, cfg, failed.append)
    assert [x["event"] for x in failed] == ["revenue_share_failed"], failed
    print("queued", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_gateway_killed_after_dispatch_shares_the_session_after_its_restart(
    chain, runtime, clients, db_url: str
) -> None:
    user = str(Account.from_key("0x" + "43" * 32).address).lower()
    fsp_b = chain.addresses["fsp_b"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    key = chain.keys["fsp_b"]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, db_url, key, SID, user],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert out.stdout.strip() == "queued"

    # The restarted gateway: the same database, the queue as the killed process left it.
    participant = Participant(
        clients("fsp_b"), ChainAccount(chain.contracts.market, chain.contracts.token, fsp_b)
    )
    engine = sa.create_engine(db_url)
    try:
        sharing = RevenueSharing(SharingQueue(engine))
        expected = [
            UserContribution(
                session_id=SID, fsp=fsp_b, ev_user=user, shifted_wh=1_200, discharged_wh=300
            )
        ]
        assert sharing.queue.pending() == {SID: expected}
        lines: list[dict] = []
        cfg = NettingConfig(ev_users={"ev-1": user})
        sharing.retry(participant, cfg, lines.append)
        assert [x["event"] for x in lines] == ["revenue_shared"], lines
        assert sharing.queue.pending() == {}
        assert contribution_store.load_contributions(runtime.engine, SID) == expected
        # posted again (a crash after the post, before the mark): the market keeps one copy
        participant.client.post_contributions(SID, expected)
        assert contribution_store.load_contributions(runtime.engine, SID) == expected
        sharing.retry(participant, cfg, lines.append)
        assert len(lines) == 1  # nothing pending: nothing posted
        # queued again by a restarted dispatch: the first rows stay, nothing is re-queued
        assert sharing.queue.put(SID, []) is False and sharing.queue.pending() == {}
    finally:
        engine.dispose()
