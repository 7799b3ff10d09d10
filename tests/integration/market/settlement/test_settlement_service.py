"""Verification, disputes and the clearing house as they run in the service (real anvil, real
store, API in-process), with payouts computed by hand from the settlement rules."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from service_settlement_helpers import (
    BASELINE_W,
    ORDER_W,
    PRICE_A,
    PRICE_B,
    RULES,
    STATION_KEYS,
    deliver,
    energy,
    order_rows,
    paid,
    readings,
    register_roles,
    session_row,
    session_to_delivery,
    signed_revenue_contract,
)

from adapters.chain.errors import ContractRevert
from adapters.chain.types import SessionState
from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.messages import FlexOrder
from clearing.settlement.delivery import recompute_report
from clearing.settlement.revenue import UserContribution
from market.clearing_house.period import SignedContract, contract_payees
from market.clearing_house.service import resolve_dispute, settle_session
from market.client import ApiError, MarketClient
from market.errors import Conflict
from market.lifecycle.verification import make_verification_hook, verify_session
from market.lifecycle.worker import step_history

pytestmark = pytest.mark.integration


def test_verify_dispute_resolve_and_net(chain, runtime, clients, api) -> None:
    arbiter, house = register_roles(chain)
    # FSP A shares revenue with an EV user (10 %), a CPO fee and a platform fee: it posts the
    # contract before it commits its offers (the commitment binds its contract set).
    signed, user, cpo, platform, user_key = signed_revenue_contract(
        chain, runtime, "fsp_a", 0xA0,
        user_incentive_ppm=100_000, cpo_fee_per_kwh_units=1_000, platform_fee_ppm=10_000,
    )  # fmt: skip
    s, req, worker = session_to_delivery(chain, runtime, clients, contracts={"fsp_a": [signed]})
    start = s.delivery_start
    # A delivers 5 kW in every ISP; B delivers too, but its meter misses ISPs 2-3 (gap 1800 s
    # > max_gap 900 s), so those ISPs are unverifiable until B's evidence fills the gap.
    delivered = [BASELINE_W - ORDER_W] * 4
    deliver(runtime, clients, s.session_id, readings("ST-A", start, delivered))
    full_b = readings("ST-B", start, delivered)
    gap = (start + 1800, start + 3600)
    deliver(
        runtime, clients, s.session_id, [r for r in full_b if not gap[0] < r.timestamp < gap[1]]
    )
    evidence = [r for r in full_b if gap[0] < r.timestamp < gap[1]]

    oracle = chain.addresses["oracle"]
    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=oracle,
        rules=RULES,
    )
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.VERIFIED
    assert api.get(f"/sessions/{s.session_id}").json()["state"] == "VERIFIED"

    # Hand-expected payouts: energy per full ISP = 5 kW x 900 s = 1250 Wh.
    isp_wh = energy(ORDER_W, 900)
    pay_a = paid(4 * isp_wh, PRICE_A)
    tolerance_w = ORDER_W * 50_000 // 1_000_000
    penalized_wh = 2 * energy(ORDER_W - tolerance_w, 900)
    pay_b_gap = paid(2 * isp_wh, PRICE_B) - min(
        paid(penalized_wh, PRICE_B), paid(4 * isp_wh, PRICE_B)
    )
    attested = runtime.ledger.payouts(s.session_id)
    reservations = runtime.ledger.clearing(s.session_id).reservations
    by_fsp = {r.fsp.lower(): p for r, p in zip(reservations, attested.payouts, strict=True)}
    fsp_a, fsp_b = chain.addresses["fsp_a"].lower(), chain.addresses["fsp_b"].lower()
    assert by_fsp == {fsp_a: pay_a, fsp_b: pay_b_gap}

    # The published bundle hashes to the attested root and recomputes byte for byte.
    bundle = api.get(f"/sessions/{s.session_id}/bundles/delivery").content
    obj = json.loads(bundle)
    assert obj["report"]["root"] == hex32(attested.delivery_root)
    orders = [FlexOrder.model_validate_json(o.body_json) for o in order_rows(runtime, s.session_id)]
    keys = {st: Account.from_key(k).address.lower() for st, k in STATION_KEYS.items()}
    recomputed = recompute_report(bundle, orders, RULES, keys)
    assert recomputed == json.dumps(obj["report"], sort_keys=True, separators=(",", ":")).encode()

    # Attesting twice does not post twice; the chain refuses a second attestation outright.
    again = verify_session(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session=session_row(runtime, s.session_id),
        oracle=oracle,
        rules=RULES,
    )
    assert again.action == "already_verified"
    assert len(runtime.ledger.session_events("DeliveryAttested", s.session_id)) == 1
    with pytest.raises(ContractRevert, match="FlexMarketNotInState"):
        chain.contracts.market.attest_delivery(
            uuid_to_bytes32(s.session_id), b"\x01" * 32, attested.payouts, sender=oracle
        )

    # The arbiter refuses to resolve an undisputed session.
    with pytest.raises(Conflict, match="not DISPUTED"):
        resolve_dispute(
            engine=runtime.engine,
            ledger=runtime.ledger,
            bundles=runtime.bundles,
            session_id=s.session_id,
            arbiter=arbiter,
        )
    # An outsider cannot dispute; FSP B disputes inside the window and posts its evidence.
    sid32 = uuid_to_bytes32(s.session_id)
    with pytest.raises(ContractRevert, match="FlexMarketNotParty"):
        chain.contracts.market.dispute(sid32, b"\x05" * 32, sender=chain.addresses["outsider"])
    chain.contracts.market.dispute(sid32, keccak256(b"meter gap"), sender=chain.addresses["fsp_b"])
    b_client = clients("fsp_b")
    out = b_client.post_dispute_evidence(s.session_id, evidence, reason="meter gap")
    assert out["readings"] == len(evidence)
    worker.run_once()
    assert api.get(f"/sessions/{s.session_id}").json()["state"] == "DISPUTED"

    result = resolve_dispute(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session_id=s.session_id,
        arbiter=arbiter,
    )
    assert result["action"] == "resolved"
    assert runtime.ledger.session(s.session_id).state == SessionState.FINAL
    pay_b = paid(4 * isp_wh, PRICE_B)
    resolved = runtime.ledger.payouts(s.session_id)
    by_fsp = {r.fsp.lower(): p for r, p in zip(reservations, resolved.payouts, strict=True)}
    assert by_fsp == {fsp_a: pay_a, fsp_b: pay_b}
    corrected = b_client.resolution_bundle(s.session_id)
    assert json.loads(corrected)["report"]["root"] == hex32(resolved.delivery_root)
    # Evidence after the session is final is refused with 409.
    with pytest.raises(ApiError) as err:
        b_client.post_dispute_evidence(s.session_id, evidence)
    assert err.value.status == 409

    # Clearing house: the netting applies FSP A's committed contract.
    market = chain.contracts.market
    contract, sigs = signed.contract, signed.signatures
    a_client = clients("fsp_a")
    # settleNetting pays only parties of the session: the FSP names its contract's parties.
    market.name_netting_payees(contract_payees([signed]), sender=fsp_a)
    a_client.post_contributions(
        s.session_id,
        [
            UserContribution(
                session_id=s.session_id, fsp=fsp_a, ev_user=user, shifted_wh=5_000, discharged_wh=0
            )
        ],
    )
    # A contract missing a party's signature is refused.
    with pytest.raises(ApiError) as err:
        a_client.post_revenue_contract(SignedContract(contract=contract, signatures=sigs[:2]))
    assert err.value.status == 422
    credit_a = market.credits(chain.addresses["fsp_a"])
    assert credit_a == pay_a
    settled = settle_session(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session_id=s.session_id,
        clearing_house=house,
        fee_recipient=platform,
    )
    assert settled["action"] == "settled"
    incentive = pay_a * 100_000 // 1_000_000
    cpo_fee = 5_000 * 1_000 // 1000
    platform_fee = pay_a * 10_000 // 1_000_000
    assert market.credits(user) == incentive
    assert market.credits(cpo) == cpo_fee
    assert market.credits(platform) == platform_fee
    assert market.credits(chain.addresses["fsp_a"]) == pay_a - incentive - cpo_fee - platform_fee
    # Settling the same period again posts nothing.
    again = settle_session(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        session_id=s.session_id,
        clearing_house=house,
        fee_recipient=platform,
    )
    assert again["action"] == "already_settled"
    assert len(chain.client.get_events("NettingSettled", 0, address=market.address)) == 1

    # Statements: own only (SIWE), JSON / CSV / XML; the user sees its incentive.
    a_client.sign_in()
    st = a_client.statement(s.session_id)
    assert st["participant"] == fsp_a and st["onchain_position_units"] == -(
        incentive + cpo_fee + platform_fee
    )
    assert "user_incentive" in a_client.statement(s.session_id, fmt="csv")
    assert "FlexSettlement" in a_client.statement(s.session_id, fmt="xml")
    with pytest.raises(ApiError) as err:
        a_client.statement(s.session_id, participant=fsp_b)
    assert err.value.status == 403
    user_client = MarketClient(
        "http://market.test", user_key, http_client=api, now=runtime.core.clock.now
    )
    user_client.sign_in()
    earned = user_client.earnings(s.session_id)
    assert [(e["ev_user"], e["incentive_units"], e["shifted_wh"]) for e in earned] == [
        (user, incentive, 5_000)
    ]
    assert user_client.statement(s.session_id)["receivable_units"] == incentive

    # Refund: the DSO's credit is its budget minus the final payouts.
    assert market.credits(chain.addresses["dso"]) == req.budget_units - pay_a - pay_b
    history = {h["step"]: h for h in step_history(runtime.engine, s.session_id)}
    assert history["verify"]["status"] == "DONE"


def test_evidence_outside_the_window_is_refused(chain, runtime, clients) -> None:
    s, _req, worker = session_to_delivery(chain, runtime, clients)
    deliver(
        runtime,
        clients,
        s.session_id,
        readings("ST-A", s.delivery_start, [BASELINE_W - ORDER_W] * 4),
    )
    deliver(
        runtime,
        clients,
        s.session_id,
        readings("ST-B", s.delivery_start, [BASELINE_W - ORDER_W] * 4),
    )
    worker.verification_hook = make_verification_hook(
        engine=runtime.engine,
        ledger=runtime.ledger,
        bundles=runtime.bundles,
        oracle=chain.addresses["oracle"],
        rules=RULES,
    )
    b_client = clients("fsp_b")
    with pytest.raises(ApiError) as err:  # CLEARED: nothing attested yet
        b_client.post_dispute_evidence(s.session_id, [])
    assert err.value.status == 409
    chain.warp_to(s.delivery_end + 61)
    worker.run_once()
    info = runtime.ledger.session(s.session_id)
    chain.warp_to(info.verified_at + info.challenge_window + 1)
    with pytest.raises(ContractRevert, match="FlexMarketTooLate"):
        chain.contracts.market.dispute(
            uuid_to_bytes32(s.session_id), b"\x07" * 32, sender=chain.addresses["fsp_b"]
        )
    with pytest.raises(ApiError) as err:
        b_client.post_dispute_evidence(s.session_id, [])
    assert err.value.status == 409 and "challenge window" in err.value.problem["detail"]
    worker.run_once()
    assert runtime.ledger.session(s.session_id).state == SessionState.FINAL
