"""``POST /clearing-house/contributions`` keeps the FSP's signed envelope (issue 16): a re-post
with a greater nonce replaces the FSP's rows, the same message again is 200, an older one is a
409 naming ``body.nonce`` unless it repeats the kept rows (200: a restarted FSP), a user
twice a 422 (real store, API and anvil roles)."""

from __future__ import annotations

import pytest

from clearing.settlement.revenue import UserContribution
from market.clearing_house import contributions as contribution_store
from market.clearing_house import store
from market.client import ApiError

pytestmark = pytest.mark.integration

SID = "22222222-2222-4222-8222-222222222222"


def _row(fsp: str, user: str, shifted_wh: int) -> UserContribution:
    return UserContribution(
        session_id=SID, fsp=fsp, ev_user=user, shifted_wh=shifted_wh, discharged_wh=0
    )


def test_a_repost_replaces_and_an_older_one_is_refused(chain, runtime, clients, api) -> None:
    fsp_a = clients("fsp_a")
    me = chain.addresses["fsp_a"].lower()
    u1, u2 = chain.addresses["outsider"].lower(), chain.addresses["fsp_c"].lower()
    env = fsp_a.sign(
        "user_contributions",
        {
            "session_id": SID,
            "contributions": [r.model_dump() for r in (_row(me, u1, 5_000), _row(me, u2, 1_000))],
        },
    )
    path = "/clearing-house/contributions"
    assert api.post(path, json=env).status_code == 201
    assert api.post(path, json=env).status_code == 200  # the kept message again
    [kept] = contribution_store.load_contribution_envelopes(runtime.engine, SID)
    assert kept == env  # byte for byte what the FSP signed
    fsp_a.post_contributions(SID, [_row(me, u1, 3_000)], nonce=2)
    assert contribution_store.load_contributions(runtime.engine, SID) == [_row(me, u1, 3_000)]
    # a restarted FSP re-signs the same rows with its first nonce: 200, the kept one stays
    before = contribution_store.load_contribution_envelopes(runtime.engine, SID)
    fsp_a.post_contributions(SID, [_row(me, u1, 3_000)], nonce=0)
    assert contribution_store.load_contribution_envelopes(runtime.engine, SID) == before
    with pytest.raises(ApiError) as err:  # older than the kept one
        fsp_a.post_contributions(SID, [_row(me, u2, 9_000)], nonce=1)
    assert err.value.status == 409 and err.value.problem["field"] == "body.nonce"
    assert contribution_store.load_contributions(runtime.engine, SID) == [_row(me, u1, 3_000)]
    with pytest.raises(ApiError) as err:  # one user, two rows
        fsp_a.post_contributions(SID, [_row(me, u1, 1), _row(me, u1, 2)], nonce=3)
    assert err.value.status == 422
    assert err.value.problem["field"] == "body.contributions[1].ev_user"
    with pytest.raises(ApiError) as err:  # another FSP's rows
        fsp_a.post_contributions(SID, [_row(chain.addresses["fsp_b"], u1, 1)], nonce=4)
    assert err.value.status == 403
    env = fsp_a.sign("user_contributions", {"session_id": SID, "contributions": [], "nonce": 5})
    env["body"]["nonce"] = 6  # changed after signing
    assert api.post(path, json=env).status_code == 401
    [kept] = contribution_store.load_contribution_envelopes(runtime.engine, SID)
    assert kept["body"]["nonce"] == 2


def test_once_the_netting_began_only_the_kept_rows_may_be_posted_again(
    chain, runtime, clients
) -> None:
    """Late rows would be kept but never paid: 409 naming body.session_id (the gateway stops
    retrying); a restarted FSP repeating its kept rows still gets 200."""
    fsp_a = clients("fsp_a")
    me, user = chain.addresses["fsp_a"].lower(), chain.addresses["outsider"].lower()
    fsp_a.post_contributions(SID, [_row(me, user, 5_000)])
    store.record_netting_intent(runtime.engine, SID, 0, "[]")
    fsp_a.post_contributions(SID, [_row(me, user, 5_000)], nonce=1)  # the kept rows: 200
    with pytest.raises(ApiError) as err:
        fsp_a.post_contributions(SID, [_row(me, user, 9_000)], nonce=2)
    assert (err.value.status, err.value.problem["field"]) == (409, "body.session_id")
    assert contribution_store.load_contributions(runtime.engine, SID) == [_row(me, user, 5_000)]
