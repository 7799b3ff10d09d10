"""The participant library's refusals: each names the field and the reason, and a refusal the
library can see coming sends nothing (no transaction, no stored message)."""

from __future__ import annotations

import pytest
from market_helpers import (
    CP,
    cpo_grants,
    escrow,
    make_offer,
    make_request,
    make_worker,
    new_id,
    open_session,
    setup_market,
)

from clearing.encoding import uuid_to_bytes32
from market.api.schemas import AssetCreate, MeterReadingCreate
from market.participant.errors import ParticipantError
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant

pytestmark = pytest.mark.integration
ZERO32 = bytes(32)


@pytest.fixture
def parts(chain, clients):
    """``parts("fsp_a")`` -> that party as a Participant with its chain account."""

    def make(who: str) -> Participant:
        market, token = chain.contracts.market, chain.contracts.token
        return Participant(clients(who), ChainAccount(market, token, chain.addresses[who]))

    return make


@pytest.fixture
def session(chain, runtime, clients):
    """An OPEN session (gate in 600 s) with the DSO's escrowed request."""
    op = clients("operator")
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    clients("dso").post_request(req)
    return s


def _offer(p: Participant, s, **kw):
    return make_offer(s.session_id, p.address, expires_at=s.gate_closure, **kw)


def test_offers_after_gate_closure_are_refused_naming_the_gate(chain, parts, session) -> None:
    fsp = parts("fsp_a")
    chain.warp_to(session.gate_closure + 1)
    with pytest.raises(ParticipantError) as err:
        fsp.submit_offers([_offer(fsp, session)])
    assert err.value.field == "session_id"
    assert f"gate closure) was {session.gate_closure}" in err.value.reason
    onchain = chain.contracts.market.offer_root(uuid_to_bytes32(session.session_id), fsp.address)
    assert onchain == ZERO32


def test_offers_to_a_closed_session_name_its_state(chain, runtime, parts, session) -> None:
    fsp = parts("fsp_a")
    chain.warp_to(session.gate_closure + 1)
    make_worker(runtime).run_once()  # close (and clear: no offers)
    with pytest.raises(ParticipantError) as err:
        fsp.submit_offers([_offer(fsp, session)])
    assert err.value.field == "session_id"
    assert "on-chain, this step needs OPEN" in err.value.reason


def test_offers_of_another_fsp_or_session_are_refused_before_sending(chain, parts, session) -> None:
    fsp_a, fsp_b = parts("fsp_a"), parts("fsp_b")
    with pytest.raises(ParticipantError) as err:
        fsp_a.submit_offers([_offer(fsp_a, session), _offer(fsp_b, session)])
    assert err.value.field == "offers[1].fsp"
    other = _offer(fsp_a, session).model_copy(update={"session_id": new_id()})
    with pytest.raises(ParticipantError) as err:
        fsp_a.submit_offers([_offer(fsp_a, session), other])
    assert err.value.field == "offers[1].session_id"
    with pytest.raises(ParticipantError) as err:
        fsp_a.submit_offers([])
    assert err.value.field == "offers"
    sid = uuid_to_bytes32(session.session_id)
    assert chain.contracts.market.offer_root(sid, fsp_a.address) == ZERO32
    fsp_a.login()
    assert fsp_a.client.offers(session.session_id) == []


def test_api_refusal_names_the_offer_and_field(parts, session) -> None:
    fsp = parts("fsp_a")
    bad = _offer(fsp, session, cp="EAN-UNKNOWN")
    with pytest.raises(ParticipantError) as err:
        fsp.post_offers([_offer(fsp, session), bad])
    assert (err.value.field, err.value.status) == ("offers[1].body.congestion_point", 422)
    assert "EAN-UNKNOWN" in err.value.reason


def test_withdraw_without_credit_sends_nothing(chain, parts) -> None:
    fsp = parts("fsp_b")
    block = chain.client.block_number()
    with pytest.raises(ParticipantError) as err:
        fsp.withdraw()
    assert (err.value.field, chain.client.block_number()) == ("credits", block)


def test_request_without_allowance_names_fund(chain, parts, session) -> None:
    dso = parts("dso2")
    dso.chain.approve(0)
    req = make_request(session.session_id, expires_at=session.gate_closure).model_copy(
        update={"direction": "DOWN"}  # the session's UP request at this point is dso's
    )
    with pytest.raises(ParticipantError) as err:
        dso.post_request(req)
    assert err.value.field == "allowance"
    assert "participant fund" in err.value.reason
    dso.chain.approve(req.budget_units)
    dso.post_request(req)  # funded, the same request goes through
    assert dso.chain.allowance_units() == 0


def test_unsigned_reading_is_refused_before_sending(parts, runtime) -> None:
    oracle = parts("oracle")
    reading = MeterReadingCreate(
        station_id="CS-9", timestamp=1_800_000_000, import_wh=1, export_wh=0
    )
    with pytest.raises(ParticipantError) as err:
        oracle.post_readings([reading])
    assert err.value.field == "readings[0].signature"
    assert oracle.client.meter_readings("CS-9") == []


def test_reading_of_a_station_outside_the_portfolio_is_refused(parts) -> None:
    fsp = parts("fsp_a")
    reading = MeterReadingCreate(
        station_id="CS-NOT-MINE",
        timestamp=1_800_000_000,
        import_wh=1,
        export_wh=0,
        signed_data="x",
        signature="0x" + "11" * 65,
        public_key="0x" + "22" * 20,
    )
    with pytest.raises(ParticipantError) as err:
        fsp.post_readings([reading])
    assert (err.value.field, err.value.status) == ("readings[0].body.station_id", 403)
    assert "portfolio" in err.value.reason


def test_asset_of_a_station_the_cpo_did_not_grant_names_the_field(chain, parts, session) -> None:
    fsp = parts("fsp_a")
    asset = AssetCreate(
        asset_id=new_id(),
        congestion_point=CP,
        station_id="CS-NOT-MINE",
        max_import_w=11_000,
        max_export_w=0,
        meter_public_key="0x" + "22" * 20,
    )
    cpo_grants(chain, "CS-NOT-MINE", "0x" + "22" * 20, "fsp_b")
    with pytest.raises(ParticipantError) as err:
        fsp.register_asset(asset)
    assert err.value.field == "asset.body.station_id"
    assert "granted it to" in str(err.value)
    assert fsp.assets() == []


def test_asset_at_unknown_congestion_point_names_the_field(chain, parts, session) -> None:
    fsp = parts("fsp_a")
    asset = AssetCreate(
        asset_id=new_id(),
        congestion_point="EAN-NOWHERE",
        station_id="CS-1",
        max_import_w=11_000,
        max_export_w=0,
        meter_public_key="0x" + "22" * 20,
    )
    with pytest.raises(ParticipantError) as err:
        fsp.register_asset(asset)
    assert err.value.field == "asset.body.congestion_point"
    assert fsp.assets() == []
    cpo_grants(chain, "CS-1", "0x" + "22" * 20, "fsp_a")
    fsp.register_asset(asset.model_copy(update={"congestion_point": CP}))
    assert [a["station_id"] for a in fsp.assets()] == ["CS-1"]


def test_follow_orders_gives_up_naming_the_state(parts, session) -> None:
    fsp = parts("fsp_a")
    t = [0.0]
    with pytest.raises(ParticipantError) as err:
        fsp.follow_orders(
            session.session_id,
            timeout_s=3,
            sleep=lambda s: t.__setitem__(0, t[0] + s),
            monotonic=lambda: t[0],
        )
    assert err.value.field == "session_id" and "still OPEN after 3 s" in err.value.reason


def test_transactions_need_a_chain(clients) -> None:
    fsp = Participant(clients("fsp_a"))
    with pytest.raises(ParticipantError) as err:
        fsp.withdraw()
    assert err.value.field == "rpc"


def test_dispute_needs_a_reason_and_a_verified_session(chain, parts, session) -> None:
    fsp = parts("fsp_a")
    block = chain.client.block_number()
    with pytest.raises(ParticipantError) as err:
        fsp.dispute(session.session_id, "  ")
    assert (err.value.field, chain.client.block_number()) == ("reason", block)
    fsp.commit_offers([_offer(fsp, session)])  # a party of the session, still OPEN
    with pytest.raises(ParticipantError) as err:
        fsp.dispute(session.session_id, "meter CS-1 under-read")
    assert err.value.field == "session_id"
    assert "the session is OPEN on-chain, this step needs VERIFIED" in err.value.reason


def test_a_request_can_be_published_again_after_its_escrow(chain, parts, session) -> None:
    dso = parts("dso2")
    req = make_request(session.session_id, expires_at=session.gate_closure).model_copy(
        update={"direction": "DOWN"}
    )
    assert dso.chain.escrow_request(req) is True  # escrowed, then the publication was lost
    balance = dso.chain.balance_units()
    dso.post_request(req)  # the retry does not escrow twice
    assert dso.chain.balance_units() == balance
    published = [r.request_id for r in dso.requests(session.session_id)]
    assert published.count(req.request_id) == 1 and len(published) == 2
    other = req.model_copy(update={"budget_units": req.budget_units + 1})  # same id, new body
    with pytest.raises(ParticipantError) as err:
        dso.post_request(other)
    assert err.value.field == "request_id"


def test_a_batch_of_offers_can_be_sent_again_after_a_refusal(parts, session) -> None:
    fsp = parts("fsp_a")
    good, bad = _offer(fsp, session), _offer(fsp, session, cp="EAN-UNKNOWN")
    with pytest.raises(ParticipantError) as err:
        fsp.post_offers([good, bad])
    assert err.value.field == "offers[1].body.congestion_point"
    fixed = bad.model_copy(update={"congestion_point": CP})
    first, second = fsp.post_offers([good, fixed])  # good again: the API replays its answer
    assert (first["body"]["offer_id"], second["body"]["offer_id"]) == (
        good.offer_id,
        fixed.offer_id,
    )
    fsp.login()
    stored = sorted(o["body"]["offer_id"] for o in fsp.client.offers(session.session_id))
    assert stored == sorted([good.offer_id, fixed.offer_id])


def test_a_commitment_is_made_once_and_its_retry_is_answered_as_the_first_time(
    chain, parts, session
) -> None:
    """A retry of the same commitment (its answer was lost) succeeds; another one is refused,
    naming the contract's reason, and the chain keeps the first."""
    fsp = parts("fsp_a")
    offer = _offer(fsp, session)
    root = fsp.commit_offers([offer])
    assert fsp.commit_offers([offer]) == root  # the same values again: nothing new sent
    with pytest.raises(ParticipantError) as err:
        fsp.commit_offers([offer, _offer(fsp, session, power_w=9_000)])
    assert "AlreadyCommitted" in f"{err.value.field} {err.value.reason}"
    sid = uuid_to_bytes32(session.session_id)
    assert chain.contracts.market.offer_commitment(sid, fsp.address).count == 1


def test_an_expired_token_signs_in_again_once_for_private_reads(chain, runtime, clients, session):
    """A long-running gateway's token outlives its TTL (here: the chain clock moves 2 h); the
    private read signs in again instead of failing with 401 for ever."""
    fsp = Participant(clients("fsp_a"))
    fsp.login()
    first = fsp.client.token
    assert fsp.settlements(session.session_id) == []
    chain.warp_to(int(runtime.core.clock.now()) + 2 * 3600)
    assert fsp.settlements(session.session_id) == []
    assert fsp.client.token != first  # signed in anew
