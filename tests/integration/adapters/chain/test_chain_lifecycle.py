"""A full session lifecycle through the adapter on a real anvil, plus reading it back."""

from __future__ import annotations

import pytest

from adapters.chain.anvil import AnvilNode
from adapters.chain.deploy import MarketContracts
from adapters.chain.lifecycle import make_plan, run_lifecycle
from adapters.chain.market_lists import payouts_hash, reservations_hash
from adapters.chain.types import Reservation, SessionState
from clearing.encoding import code_to_bytes32

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BUDGET = 3_000 * 1_000_000
H = b"\x65" * 32


def test_full_lifecycle_pays_fsps_refunds_dso_and_empties_the_market(
    deployment: MarketContracts, parties, anvil_node: AnvilNode
) -> None:
    token, market = deployment.token, deployment.market
    dso_before = token.balance_of(parties.dso)
    plan = make_plan(orders=9, fsps=3, requests=2, budget_per_request=BUDGET, label="it")
    steps = []
    report = run_lifecycle(deployment, anvil_node, parties, plan, on_step=steps.append)

    info = market.session(report.session_id)
    assert info.state is SessionState.FINAL
    assert info.budget == 2 * BUDGET
    assert info.paid == sum(plan.payouts)
    assert info.reservation_count == len(plan.reservations) == 4  # 3 FSPs + 2 requests - 1

    paid_to = dict.fromkeys(parties.fsps, 0)
    for (_, f, _), payout in zip(plan.reservations, plan.payouts, strict=True):
        paid_to[parties.fsps[f]] += payout
    for fsp, amount in paid_to.items():
        assert token.balance_of(fsp) == amount
        assert market.credits(fsp) == 0
    assert token.balance_of(parties.dso) == dso_before - sum(plan.payouts)
    assert token.balance_of(market.address) == 0
    assert market.total_escrowed() == 0 and market.total_credited() == 0
    assert market.total_withdrawn() == market.total_deposited() == 2 * BUDGET

    # every step is a mined transaction with its gas; phases in lifecycle order
    assert [s.phase for s in steps][:1] == ["open"] and steps[-1].phase == "withdraw"
    assert all(s.gas_used > 21_000 for s in steps)
    assert report.gas() == sum(s.gas_used for s in steps)

    # commitments on-chain equal the Python Merkle roots
    for fsp, root in report.offer_roots.items():
        assert market.offer_commitment(report.session_id, fsp).root == root

    reservations, payouts = market.reservations(report.session_id)
    assert [r.amount for r in reservations] == [a for _, _, a in plan.reservations]
    assert payouts == list(plan.payouts)

    # values the contract keeps only in events are rebuilt by the wrapper
    request_ids = market.session_requests(report.session_id)
    assert len(request_ids) == info.request_count == 2
    cp = code_to_bytes32(plan.congestion_point)
    for rid in request_ids:
        request, origin = market.request(rid), market.request_origin(rid)
        assert origin.congestion_point == cp and origin.session_id == report.session_id
        assert request.budget == BUDGET and request.session_index == info.index
    for fsp in report.offer_roots:
        commitment = market.offer_commitment(report.session_id, fsp)
        assert commitment.count == sum(1 for o in plan.orders if parties.fsps[o.fsp_index] == fsp)
        assert commitment.committed_at > 0
    assert market.offer_commitment(report.session_id, parties.dso).count == 0
    roots = market.session_roots(report.session_id)
    assert roots.input_hash != bytes(32) and roots.result_root != bytes(32)
    assert roots.delivery_root != bytes(32)
    assert info.reservations_hash == reservations_hash(reservations)
    assert info.payouts_hash == payouts_hash(payouts)


def test_events_are_read_back_in_bounded_block_ranges(
    deployment: MarketContracts, parties, anvil_node: AnvilNode
) -> None:
    client = deployment.client
    start = client.block_number() + 1
    plan = make_plan(orders=4, fsps=2, requests=1, budget_per_request=BUDGET, label="events")
    report = run_lifecycle(deployment, anvil_node, parties, plan)

    one_by_one = client.get_events("OffersCommitted", start, step=1)
    all_at_once = client.get_events("OffersCommitted", start, step=10_000)
    assert one_by_one == all_at_once
    assert {e.args["fsp"] for e in one_by_one} == set(parties.fsps[:2])
    assert all(e.args["sessionId"] == report.session_id for e in one_by_one)

    finalized = client.get_events("SessionFinalized", start, address=deployment.market.address)
    assert len(finalized) == 1 and finalized[0].contract == "FlexMarket"
    assert finalized[0].args["totalPaid"] == sum(plan.payouts)

    # the positions contract publishes ERC-1155 mints and burns
    transfers = client.get_events("TransferSingle", start, address=deployment.positions.address)
    minted = [e for e in transfers if e.args["from"] == "0x" + "00" * 20]
    assert minted, "award and receipt positions are minted"


def test_post_request_with_permit_needs_no_separate_approve(
    deployment: MarketContracts, parties, anvil_node: AnvilNode, chain
) -> None:
    market, token = deployment.market, deployment.token
    now = anvil_node.block_timestamp()
    session_id = b"\x51" * 32
    terms = b"\x7e" * 32
    market.create_session(
        session_id, now + 600, now + 600, now + 1500, 900, 600, terms, sender=parties.operator
    )
    dso_key = next(k for k in anvil_node.private_keys if _address(k) == parties.dso)
    v, r, s = token.sign_permit(dso_key, market.address, 5_000_000, now + 3600)
    assert token.allowance(parties.dso, market.address) == 0
    result = market.post_request_with_permit(
        session_id,
        b"\x52" * 32,
        b"\x53" * 32,
        b"\x54" * 32,
        5_000_000,
        now + 3600,
        v,
        r,
        s,
        sender=parties.dso,
    )
    assert result.event("RequestPosted").args["budget"] == 5_000_000
    assert market.request(b"\x52" * 32).dso == parties.dso
    assert token.balance_of(market.address) == 5_000_000


def _address(key: str) -> str:
    from eth_account import Account

    return Account.from_key(key).address


@pytest.mark.slow
def test_worst_case_bounded_loops_fit_in_a_30m_gas_block(
    deployment: MarketContracts, parties, anvil_node: AnvilNode
) -> None:
    """MAX_REQUESTS_PER_SESSION requests and MAX_RESERVATIONS_PER_SESSION reservations."""
    market, token = deployment.market, deployment.token
    max_requests, max_res = market.max_requests_per_session(), market.max_reservations_per_session()
    block_limit = int(
        deployment.client.rpc("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16
    )
    assert block_limit >= 30_000_000
    now = anvil_node.block_timestamp()
    sid = b"\x61" * 32
    market.create_session(
        sid, now + 100, now + 100, now + 1000, 900, 100, b"\x7e" * 32, sender=parties.operator
    )
    token.approve(market.address, max_requests * 1_000_000, sender=parties.dso)
    requests = [bytes([0x70, j]) + b"\x00" * 30 for j in range(max_requests)]
    for rid in requests:
        market.post_request(sid, rid, b"\x62" * 32, b"\x63" * 32, 1_000_000, sender=parties.dso)
    for fsp in parties.fsps:
        market.commit_offers(sid, b"\x64" * 32, 1, b"\x01" * 32, b"\x02" * 32, sender=fsp)
    anvil_node.warp_to(now + 100)
    market.close_session(sid, sender=parties.operator)
    res = [
        Reservation(requests[i % max_requests], parties.fsps[i % len(parties.fsps)], 1_000)
        for i in range(max_res)
    ]
    gas = {"postClearing": market.post_clearing(sid, H, H, res, sender=parties.operator).gas_used}
    anvil_node.warp_to(now + 1000)
    gas["attest"] = market.attest_delivery(sid, H, [900] * max_res, sender=parties.oracle).gas_used
    gas["dispute"] = market.dispute(sid, H, sender=parties.fsps[-1]).gas_used
    gas["resolve"] = market.resolve(sid, H, [800] * max_res, sender=parties.arbiter).gas_used
    assert market.session(sid).state is SessionState.FINAL
    assert max(gas.values()) < block_limit, gas
