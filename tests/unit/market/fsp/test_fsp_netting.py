"""The per-user contributions the FSP gateway posts (issue 19): each EV user's energy summed
over its EVs from the dispatch plan, EVs without a user left out (the config's section is
tested in test_fsp_config)."""

from __future__ import annotations

from market.agents.fsp import Incentive
from market.fsp.netting import user_contributions

SID = "11111111-1111-4111-8111-111111111111"
FSP = "0x" + "AA" * 20
ALICE, BOB = "0x" + "a1" * 20, "0x" + "b0" * 20


def _inc(ev_id: str, shifted: int, discharged: int = 0) -> Incentive:
    return Incentive(ev_id, shifted, discharged, rate_per_mwh=0, amount_units=0)


def test_contributions_sum_each_users_evs_and_skip_the_fsps_own() -> None:
    plan = [_inc("ev-3", 500), _inc("ev-1", 1_000, 200), _inc("ev-2", 300), _inc("ev-9", 7)]
    users = {"ev-1": ALICE, "ev-3": ALICE, "ev-2": BOB}
    rows = user_contributions(SID, FSP, plan, users)
    assert [(r.ev_user, r.shifted_wh, r.discharged_wh) for r in rows] == [
        (ALICE, 1_500, 200),
        (BOB, 300, 0),
    ]
    assert {r.fsp for r in rows} == {FSP.lower()} and {r.session_id for r in rows} == {SID}
    assert user_contributions(SID, FSP, [], users) == []


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_sharing_the_market_cannot_take_is_logged_and_kept_for_the_next_pass(
    tmp_path,
) -> None:
    """Sharing runs after dispatch and never raises: a market that is down (a closed port, no
    mock) or a gateway without its chain leaves the session queued (in the gateway's
    database) and says why."""
    import sqlalchemy as sa
    from eth_account import Account

    from market.agents.fsp import DispatchPlan
    from market.client import MarketClient
    from market.fsp.config import NettingConfig
    from market.fsp.netting import RevenueSharing
    from market.fsp.sharing_queue import SharingQueue
    from market.participant.participant import Participant

    key = "0x" + "42" * 32
    client = MarketClient(f"http://127.0.0.1:{_closed_port()}", key, timeout_s=2)
    participant = Participant(client)
    user = str(Account.from_key("0x" + "43" * 32).address).lower()
    plan = DispatchPlan(
        schedules={}, by_point={}, shortfalls={}, misses=[], incentives=[_inc("ev-1", 900)]
    )
    lines: list[dict] = []
    engine = sa.create_engine(f"sqlite:///{tmp_path}/gateway.db")
    sharing = RevenueSharing(SharingQueue(engine))
    cfg = NettingConfig(ev_users={"ev-1": user})
    sharing.add(participant, cfg, SID, plan)
    sharing.retry(participant, cfg, lines.append)
    assert list(sharing.queue.pending()) == [SID]  # kept: the next pass tries again
    assert [(x["event"], x["session_id"], x["level"]) for x in lines] == [
        ("revenue_share_failed", SID, "error")
    ]
    other = "55555555-5555-4555-8555-555555555555"
    nothing_to_post = DispatchPlan(
        schedules={}, by_point={}, shortfalls={}, misses=[], incentives=[]
    )
    sharing.add(participant, NettingConfig(), other, nothing_to_post)
    sharing.retry(participant, NettingConfig(), lines.append)  # straight to the chain: none
    assert sorted(sharing.queue.pending()) == sorted([SID, other])
    assert sharing.queue.pending()[other] == [] and "rpc" in lines[-1]["reason"]
