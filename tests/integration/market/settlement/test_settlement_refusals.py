"""Refusals and resumption on the settlement money paths (real anvil, store and API)."""

from __future__ import annotations

import json

import pytest
from service_settlement_helpers import (
    BASELINE_W,
    ORDER_W,
    RULES,
    deliver,
    readings,
    register_roles,
    session_row,
    session_to_delivery,
    signed_revenue_contract,
    store_readings,
)
from typer.testing import CliRunner

from adapters.chain.errors import ContractRevert
from adapters.chain.types import SessionState
from clearing.encoding import hex32, keccak256
from market.clearing_house.service import settle_session
from market.clearing_house.store import load_contracts
from market.client import ApiError
from market.commands.settlement import resolve_command, settle_command
from market.errors import Conflict, InvalidMessage
from market.lifecycle.verification import compute_session_delivery, verify_session
from market.lifecycle.worker import step_history
from market.runtime import attach_settlement
from market.settings import Settings

pytestmark = pytest.mark.integration


def _delivered(chain, runtime, clients):
    s, req, worker = session_to_delivery(chain, runtime, clients)
    for station in ("ST-A", "ST-B"):
        deliver(
            runtime,
            clients,
            s.session_id,
            readings(station, s.delivery_start, [BASELINE_W - ORDER_W] * 4),
        )
    return s, req, worker


def test_a_bundle_published_before_a_crash_is_attested_as_published(
    chain, runtime, clients
) -> None:
    s, _req, _worker = _delivered(chain, runtime, clients)
    chain.warp_to(s.delivery_end + 61)
    row = session_row(runtime, s.session_id)
    outcome = compute_session_delivery(
        engine=runtime.engine, ledger=runtime.ledger, session=row, rules=RULES
    )
    runtime.bundles.publish(s.session_id, "delivery", outcome.bundle_bytes)
    # ... the oracle crashed here. Late readings arrive that would change a recomputation:
    late = readings("ST-A", s.delivery_start, [BASELINE_W] * 4)
    store_readings(runtime.engine, [r for r in late if r.timestamp % 600 == 0][:3])
    result = verify_session(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session=row,
        oracle=chain.addresses["oracle"],
        rules=RULES,
    )
    assert result.action == "attested"
    assert result.delivery_root == outcome.report.root
    assert runtime.bundles.get(s.session_id, "delivery") == outcome.bundle_bytes
    assert hex32(runtime.ledger.payouts(s.session_id).delivery_root) == outcome.report.root


def test_default_wiring_blocks_without_an_oracle_key_and_attests_with_one(
    chain, runtime, clients
) -> None:
    s, _req, worker = _delivered(chain, runtime, clients)
    attach_settlement(worker, Settings(database_url="sqlite://"), ledger=runtime.ledger)
    assert worker.verification_hook is None and worker.clearing_hook is None
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    history = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}
    assert history["verify"]["status"] == "BLOCKED"
    assert "FLEXMARKET_ORACLE_KEY" in history["verify"]["detail"]
    # The service's app() wires a worker it embeds from the settings' keys.
    runtime.settings.oracle_key = chain.keys["oracle"]
    runtime.settings.settlement_rules = RULES.to_json_obj()
    runtime.app(worker=worker)
    assert worker.verification_hook is not None
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    assert len(runtime.ledger.session_events("DeliveryAttested", s.session_id)) == 1
    worker.run_once()  # nothing to do twice
    assert len(runtime.ledger.session_events("DeliveryAttested", s.session_id)) == 1


def test_clearing_house_refusals(chain, runtime, clients) -> None:
    _arbiter, house = register_roles(chain)
    s, _req, _worker = _delivered(chain, runtime, clients)
    with pytest.raises(Conflict, match="not FINAL"):
        settle_session(
            engine=runtime.engine,
            ledger=runtime.ledger,
            bundles=runtime.bundles,
            session_id=s.session_id,
            clearing_house=house,
            fee_recipient=house,
        )
    # settleNetting needs CLEARING_HOUSE_ROLE; a zero-sum violation reverts by name.
    market = chain.contracts.market
    fsp_a = chain.addresses["fsp_a"]
    with pytest.raises(ContractRevert, match="AccessControl"):
        market.settle_netting(keccak256(b"p"), [fsp_a], [0], 0, house, sender=fsp_a)
    with pytest.raises(ContractRevert, match="FlexMarketNettingNotBalanced"):
        market.settle_netting(keccak256(b"p"), [fsp_a], [5], 0, house, sender=house)
    # a contract id is its FSP's: another FSP cannot replace it (it would leave A's set)
    mine, *_ = signed_revenue_contract(chain, runtime, "fsp_a", 0xD0)
    clients("fsp_a").post_revenue_contract(mine)
    theirs, *_ = signed_revenue_contract(
        chain, runtime, "fsp_b", 0xE0, contract_id=mine.contract.contract_id
    )
    with pytest.raises(ApiError) as taken:
        clients("fsp_b").post_revenue_contract(theirs)
    assert (taken.value.status, taken.value.problem["field"]) == (409, "body.contract.contract_id")
    assert [c.contract.fsp for c in load_contracts(runtime.engine)] == [fsp_a.lower()]


def test_dispute_and_statement_api_refusals(chain, runtime, clients) -> None:
    s, _req, _worker = _delivered(chain, runtime, clients)
    fsp_a, outsider = clients("fsp_a"), clients("outsider")
    with pytest.raises(ApiError) as err:  # no DSO / FSP role
        outsider.post_dispute_evidence(s.session_id, [])
    assert err.value.status == 403
    with pytest.raises(ApiError) as err:  # an FSP, but not a party of this session
        clients("fsp_c").post_dispute_evidence(s.session_id, [])
    assert err.value.status == 403 and "not a party" in err.value.problem["detail"]
    env = fsp_a.sign("dispute_evidence", {"session_id": s.session_id, "reason": "", "readings": []})
    env["body"]["reason"] = "tampered after signing"
    with pytest.raises(ApiError) as err:
        fsp_a.send_envelope(f"/sessions/{s.session_id}/disputes/evidence", env)
    assert err.value.status == 401
    other = "00000000-0000-4000-8000-000000000000"
    env = fsp_a.sign("dispute_evidence", {"session_id": other, "reason": "", "readings": []})
    with pytest.raises(ApiError) as err:
        fsp_a.send_envelope(f"/sessions/{s.session_id}/disputes/evidence", env)
    assert err.value.status == 422
    contribution = {
        "session_id": s.session_id,
        "fsp": chain.addresses["fsp_b"],
        "ev_user": chain.addresses["outsider"],
        "shifted_wh": 1,
        "discharged_wh": 0,
    }
    with pytest.raises(ApiError) as err:  # A cannot speak for B's users
        fsp_a.post_contributions(s.session_id, [contribution])
    assert err.value.status == 403
    with pytest.raises(ApiError) as err:  # statements need SIWE
        fsp_a.statement(s.session_id)
    assert err.value.status == 401
    fsp_a.sign_in()
    with pytest.raises(ApiError) as err:
        fsp_a.statement(s.session_id)
    assert err.value.status == 404
    assert fsp_a.disputes(s.session_id) == {
        "session_id": s.session_id,
        "evidence": [],
        "resolution": None,
    }


def test_cli_commands_are_registered_and_need_their_keys() -> None:
    from market.cli import app

    runner = CliRunner()
    assert "resolve" in runner.invoke(app, ["arbiter", "--help"]).output
    assert "settle" in runner.invoke(app, ["clearing", "--help"]).output
    with pytest.raises(InvalidMessage, match="ARBITER"):
        resolve_command(Settings(arbiter_key=None), "00000000-0000-4000-8000-000000000000")
    with pytest.raises(InvalidMessage, match="CLEARING_HOUSE"):
        settle_command(Settings(clearing_house_key=None), "00000000-0000-4000-8000-000000000000")
    assert json.loads(json.dumps(Settings(settlement_rules={"isp_s": 60}).settlement_rules))


def test_verification_blocks_with_the_reason_when_inputs_are_missing(
    chain, runtime, clients
) -> None:
    from sqlmodel import Session, delete

    from market.lifecycle.verification import make_verification_hook
    from market.store import models as m

    s, _req, worker = _delivered(chain, runtime, clients)
    with Session(runtime.engine) as db:  # the FSPs' metered assets are gone
        db.exec(delete(m.Asset))
        db.commit()
    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=RULES,
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    history = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}
    assert history["verify"]["status"] == "BLOCKED"
    assert "portfolios" in history["verify"]["detail"]
    assert runtime.ledger.session(s.session_id).state == SessionState.CLEARED


def test_clearing_step_nets_a_session_finalized_elsewhere_leaving_out_an_uncommitted_share(
    chain, runtime, clients
) -> None:
    import uuid

    from eth_account import Account

    from clearing.settlement.revenue import (
        RevenueShareContract,
        UserContribution,
        sign_contract,
    )
    from market.clearing_house.period import SignedContract, contract_payees

    _arbiter, house = register_roles(chain)
    s, _req, worker = _delivered(chain, runtime, clients)
    settings = Settings(
        database_url="sqlite://",
        oracle_key=chain.keys["oracle"],
        clearing_house_key=chain.node.private_keys[9],
        settlement_rules=RULES.to_json_obj(),
    )
    attach_settlement(worker, settings, ledger=runtime.ledger)
    worker.clearing_backoff_s = (0.0, 0.0)  # retried at once (the back-off has its own test)
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    info = runtime.ledger.session(s.session_id)
    chain.warp_to(info.verified_at + info.challenge_window + 1)
    runtime.ledger.finalize(s.session_id)  # someone else finalized; the indexer says FINAL
    worker.set_state(s.session_id, "FINAL")
    user_key = "0x" + "ab" * 32
    user = Account.from_key(user_key).address.lower()
    fsp_a = clients("fsp_a")
    fsp_a.post_contributions(
        s.session_id,
        [
            UserContribution(
                session_id=s.session_id,
                fsp=fsp_a.address,
                ev_user=user,
                shifted_wh=1_000,
                discharged_wh=0,
            )
        ],
    )
    # a contract signed after the FSP's commitment is not in the set it bound: the user's row
    # has nothing to share by, so it is left out (logged), and nobody's netting waits for it
    contract = RevenueShareContract(
        contract_id=str(uuid.uuid4()),
        fsp=fsp_a.address,
        ev_user=user,
        cpo=house,
        platform=house,
        user_incentive_mode="per_kwh",
        user_incentive_per_kwh_shifted_units=20,
        valid_from=0,
        valid_until=2**40,
    )
    dom = {
        "chain_id": runtime.ledger.chain_id,
        "verifying_contract": chain.contracts.market.address,
    }
    sigs = tuple(
        sign_contract(contract, k, **dom)
        for k in (chain.keys["fsp_a"], user_key, chain.node.private_keys[9])
    )
    signed = SignedContract(contract=contract, signatures=sigs)
    fsp_a.post_revenue_contract(signed)
    chain.contracts.market.name_netting_payees(contract_payees([signed]), sender=fsp_a.address)
    worker.run_once()
    history = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}
    assert history["clearing"]["status"] == "DONE", history["clearing"]
    assert chain.contracts.market.credits(user) == 0
    worker.run_once()  # done once: the session is not picked up again
    assert (
        len(chain.client.get_events("NettingSettled", 0, address=chain.contracts.market.address))
        <= 1
    )


def test_the_service_says_it_nets_only_with_a_sender_holding_clearing_house(chain, runtime) -> None:
    """GET /deployment's netting: a clearing-house key without the role would only see its
    nettings revert, so gateways must not wait for them."""
    from market.runtime import nets

    stranger = "0x" + "77" * 32
    _arbiter, _house = register_roles(chain)
    assert not nets(Settings(database_url="sqlite://", clearing_house_key=stranger), runtime.ledger)
    holder = Settings(database_url="sqlite://", clearing_house_key=chain.node.private_keys[9])
    assert nets(holder, runtime.ledger)
    off = Settings(
        database_url="sqlite://", clearing_house_key=chain.node.private_keys[9], netting=False
    )
    assert not nets(off, runtime.ledger)
