"""The clearing-house tables on each database: upserts, idempotent evidence, round trips."""

from __future__ import annotations

import pytest

from clearing.commitments import EMPTY_CONTRACT_SET, contract_set_root
from clearing.settlement.revenue import RevenueShareContract, UserContribution
from market.clearing_house import contributions as contribution_store
from market.clearing_house import store
from market.clearing_house.period import SignedContract
from market.errors import Conflict
from market.store.db import make_engine, upgrade

pytestmark = pytest.mark.integration

FSP, USER, CPO = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
SID = "11111111-1111-4111-8111-111111111111"


def test_tables_round_trip_and_upsert(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        contract = RevenueShareContract(
            contract_id="c-1",
            fsp=FSP,
            ev_user=USER,
            cpo=CPO,
            platform=CPO,
            user_incentive_mode="percent",
            user_incentive_ppm=5,
            valid_from=0,
            valid_until=10,
        )
        signed = SignedContract(contract=contract, signatures=("0x01",))
        store.save_contract(engine, signed)
        store.save_contract(engine, signed)  # same id again: one row
        assert store.load_contracts(engine) == [signed]

        first = UserContribution(
            session_id=SID, fsp=FSP, ev_user=USER, shifted_wh=1, discharged_wh=2
        )
        contribution_store.save_contributions(engine, [first])
        second = first.model_copy(update={"shifted_wh": 7})
        contribution_store.save_contributions(engine, [second])  # the FSP corrects its figure
        assert contribution_store.load_contributions(engine, SID) == [second]

        body = {"session_id": SID, "readings": []}
        assert store.save_evidence(
            engine, message_id="m-1", session_id=SID, submitter=FSP.upper(), body=body, at=5
        )
        assert not store.save_evidence(
            engine, message_id="m-1", session_id=SID, submitter=FSP, body=body, at=6
        )
        [item] = store.load_evidence(engine, SID)
        assert item["submitter"] == FSP and item["body"] == body and item["received_at"] == 5

        assert store.load_resolution(engine, SID) is None
        store.save_resolution(
            engine, session_id=SID, corrected_root="0x1", bundle=b"{}", tx_hash=None
        )
        store.save_resolution(
            engine, session_id=SID, corrected_root="0x2", bundle=b"[]", tx_hash="0xt"
        )
        assert store.load_resolution(engine, SID) == {
            "session_id": SID,
            "corrected_root": "0x2",
            "bundle": b"[]",
            "tx_hash": "0xt",
        }
        store.save_period(
            engine, period=SID, period_id="0xp", settlement_json='{"a": 1}', tx_hash=None
        )
        assert store.load_periods(engine) == [
            {"period": SID, "period_id": "0xp", "settlement": {"a": 1}, "tx_hash": None}
        ]
    finally:
        engine.dispose()


def _envelope(message_id: str, expiry: int) -> dict:
    return {"message_id": message_id, "expiry": expiry, "kind": "user_contributions"}


def test_signed_contributions_replace_by_the_greatest_nonce(db_url: str) -> None:
    """An FSP's re-post replaces its rows and envelope, never merges; the greatest (nonce,
    expiry, message id) is kept whatever the arrival order; an older post is refused."""
    upgrade(db_url)
    engine = make_engine(db_url)
    other = "0x" + "dd" * 20
    try:
        first = UserContribution(
            session_id=SID, fsp=FSP, ev_user=USER, shifted_wh=1, discharged_wh=2
        )
        second = UserContribution(
            session_id=SID, fsp=FSP, ev_user=other, shifted_wh=3, discharged_wh=0
        )
        kw = {"session_id": SID, "fsp": FSP}
        assert contribution_store.save_signed_contributions(
            engine, **kw, envelope=_envelope("m-1", 100), rows=[first, second], nonce=0
        )
        assert not contribution_store.save_signed_contributions(  # the kept message again
            engine, **kw, envelope=_envelope("m-1", 100), rows=[first, second], nonce=0
        )
        assert contribution_store.load_contributions(engine, SID) == [first, second]
        assert contribution_store.save_signed_contributions(
            engine, **kw, envelope=_envelope("m-3", 90), rows=[second], nonce=2
        )
        # replaced, not merged
        assert contribution_store.load_contributions(engine, SID) == [second]
        with pytest.raises(Conflict) as err:
            contribution_store.save_signed_contributions(
                engine, **kw, envelope=_envelope("m-2", 500), rows=[first], nonce=1
            )
        assert err.value.field == "body.nonce"
        assert contribution_store.load_contributions(engine, SID) == [second]
        assert [
            e["message_id"] for e in contribution_store.load_contribution_envelopes(engine, SID)
        ] == ["m-3"]
    finally:
        engine.dispose()


def test_every_contract_set_an_fsp_formed_is_kept(db_url: str) -> None:
    """A commitment binds the set the FSP had then: after a later contract or a replaced one,
    the store still gives that set's signed contracts by its root."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:

        def signed(cid: str, ppm: int) -> SignedContract:
            contract = RevenueShareContract(
                contract_id=cid,
                fsp=FSP,
                ev_user=USER,
                cpo=CPO,
                platform=CPO,
                user_incentive_mode="percent",
                user_incentive_ppm=ppm,
                valid_from=0,
                valid_until=10,
            )
            return SignedContract(contract=contract, signatures=("0x01",))

        first, second, replaced = signed("c-1", 5), signed("c-2", 6), signed("c-1", 7)
        assert store.contract_set_roots(engine, FSP) == [EMPTY_CONTRACT_SET]
        store.save_contract(engine, first)
        one = contract_set_root([first.contract])
        store.save_contract(engine, first)  # the same again: no new set
        store.save_contract(engine, second)
        store.save_contract(engine, replaced)
        both = contract_set_root([first.contract, second.contract])
        now = contract_set_root([replaced.contract, second.contract])
        roots = store.contract_set_roots(engine, FSP)
        assert roots[0] == EMPTY_CONTRACT_SET and set(roots) == {EMPTY_CONTRACT_SET, one, both, now}
        assert store.load_contract_set(engine, FSP, one) == [first]
        assert store.load_contract_set(engine, FSP, both) == [first, second]
        assert store.load_contract_set(engine, FSP, now) == [replaced, second]
        assert store.load_contract_set(engine, FSP, EMPTY_CONTRACT_SET) == []
        assert store.load_contract_set(engine, FSP, b"\x01" * 32) is None
        assert store.load_contract_set(engine, USER, one) is None  # another FSP's
    finally:
        engine.dispose()


def test_a_netting_freezes_its_inputs_and_a_later_post_is_refused(db_url: str) -> None:
    """A post between the netting's read and its freeze makes the freeze fail (the netting
    runs again on the new rows), never an accepted post left out; after the freeze a post is
    409 naming body.session_id and a re-run reads the frozen rows and envelopes."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        row = UserContribution(session_id=SID, fsp=FSP, ev_user=USER, shifted_wh=1, discharged_wh=0)
        later = row.model_copy(update={"shifted_wh": 7})
        kw = {"session_id": SID, "fsp": FSP}
        contribution_store.save_signed_contributions(
            engine, **kw, envelope=_envelope("m-1", 100), rows=[row], nonce=0
        )
        read = contribution_store.netting_inputs_of(engine, SID)
        assert read.contributions == [row]
        contribution_store.save_signed_contributions(  # lands while the netting computes
            engine, **kw, envelope=_envelope("m-2", 100), rows=[later], nonce=1
        )
        assert not contribution_store.freeze_netting_inputs(engine, SID, read)
        again = contribution_store.netting_inputs_of(engine, SID)
        assert again.contributions == [later]
        assert [e["message_id"] for e in again.envelopes] == ["m-2"]
        assert contribution_store.freeze_netting_inputs(engine, SID, again)
        with pytest.raises(Conflict) as err:
            contribution_store.save_signed_contributions(
                engine, **kw, envelope=_envelope("m-3", 100), rows=[row], nonce=2
            )
        assert err.value.field == "body.session_id"
        assert contribution_store.netting_inputs_of(engine, SID) == again  # the re-run's
        assert contribution_store.freeze_netting_inputs(engine, SID, again)  # idempotent
    finally:
        engine.dispose()


def test_the_current_contract_set_is_the_one_the_store_formed(db_url: str) -> None:
    """A contract kept before the store formed sets (no version row) is in no set: the FSP's
    current set (what GET /commitment-hashes folds in) leaves it out until it is posted
    again, when the store forms the set the oracle can then find."""
    from market.store.models.clearing_house import revenue_contracts

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        contract = RevenueShareContract(
            contract_id="c-legacy", fsp=FSP, ev_user=USER, cpo=CPO, platform=CPO,
            user_incentive_mode="percent", user_incentive_ppm=5, valid_from=0, valid_until=10,
        )  # fmt: skip
        signed = SignedContract(contract=contract, signatures=("0x01",))
        with engine.begin() as conn:  # as migration 0013 left a contract stored before it
            conn.execute(
                revenue_contracts.insert().values(
                    contract_id="c-legacy",
                    fsp=FSP,
                    ev_user=USER,
                    body_json=signed.model_dump_json(),
                )
            )
        assert store.current_contract_set(engine, FSP) == []
        assert not store.contract_unchanged(engine, signed)
        store.save_contract(engine, signed)
        assert store.current_contract_set(engine, FSP) == [signed]
        assert store.contract_unchanged(engine, signed)
        root = contract_set_root([contract])
        assert root in store.contract_set_roots(engine, FSP)
    finally:
        engine.dispose()
