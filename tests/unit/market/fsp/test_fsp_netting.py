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
