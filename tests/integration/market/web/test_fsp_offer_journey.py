"""An FSP makes an offer from its envelope on /fsp (draft -> signed -> submitted -> committed)
on a live market, and sees the order, the dispatch and the payout, then withdraws it.

The test plays the other parties (the DSO's escrowed request, the operator's dispatch status,
the clock and the meter oracle) and drives the worker between the steps; the page follows the
market's event stream by itself.
"""

from __future__ import annotations

import uuid

import pytest
from coincurve import PrivateKey
from market_helpers import (
    CP,
    attest_in_full,
    client_for,
    cpo_grants,
    escrow,
    make_request,
    make_worker,
    open_session,
    setup_market,
)

from clearing.commitments import offers_root
from clearing.messages import FlexOffer
from market.api.schemas import AssetCreate, DispatchStatusCreate, ParticipantCreate

pytestmark = pytest.mark.integration


def test_fsp_offers_from_its_envelope_and_sees_order_dispatch_and_payout(
    live_web, chain, runtime, server
) -> None:
    op = client_for(server, chain, "operator", runtime)
    dso = client_for(server, chain, "dso", runtime)
    fsp = client_for(server, chain, "fsp_a", runtime)
    setup_market(op)
    fsp.register_participant(ParticipantCreate(name="EMSP A"))
    meter = "0x" + PrivateKey(b"\x11" * 32).public_key.format(compressed=False).hex()
    cpo_grants(chain, "CS-1", meter, "fsp_a")  # the CPO registers the meter and grants CS-1
    fsp.register_asset(
        AssetCreate(
            asset_id=str(uuid.uuid4()),
            congestion_point=CP,
            station_id="CS-1",
            max_import_w=22_000,
            max_export_w=0,
        )
    )
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    req = make_request(s.session_id, expires_at=s.gate_closure)
    escrow(chain, "dso", req)
    dso.post_request(req)
    me = fsp.address.lower()

    page = live_web.page
    live_web.open(f"/fsp?fsp={me}&session={s.session_id}")
    page.wait_for_selector("#status.ok")
    page.wait_for_selector("#live.ok")
    assert page.locator("#offers-private").is_visible()  # not signed in: offers are private

    def sign_in() -> None:
        page.select_option("#dev-account", me)
        page.click("#sign-in-dev")
        page.wait_for_selector("#who.ok")

    sign_in()
    page.wait_for_selector("#offer-form:not([hidden])")
    page.wait_for_selector("#offers-table")  # redrawn signed in: its own (still no) offers
    page.select_option("#off-request", req.request_id)
    assert "up to 22000 W per ISP" in page.locator("#off-envelope").inner_text()
    page.fill("#off-power-w", "30000")  # above the envelope: refused in the page, nothing signed
    page.click("#off-sign")
    page.wait_for_selector("#off-status.bad")
    assert "above your envelope of 22000 W" in page.locator("#off-status").inner_text()
    page.fill("#off-power-w", "6000")
    page.fill("#off-price", "120")
    page.click("#off-sign")
    page.wait_for_selector("#off-steps li.done[data-step='signed']")
    summary = page.locator("#off-summary").inner_text()
    for shown in (s.session_id, CP, "direction UP", "6000 W in 4 ISPs", "120.00 EUR/MWh"):
        assert shown in summary
    assert page.locator("#off-steps li.done").count() == 2  # draft, signed: not yet submitted
    assert fsp.sign_in() and fsp.offers(s.session_id) == []
    page.click("#off-submit")
    page.wait_for_selector("#off-steps li.done[data-step='committed']", timeout=90_000)
    offer_id = page.locator("#offer-form").get_attribute("data-offer-id")

    (stored,) = fsp.offers(s.session_id)
    offer = FlexOffer.model_validate(stored["body"])
    assert offer.offer_id == offer_id and offer.request_id == req.request_id
    assert offer.options[0].price_per_mwh == 120_000_000
    assert runtime.ledger.offer_root(s.session_id, me) == offers_root([offer])
    page.wait_for_selector(f"#offers-table code[title='{offer_id}']")

    # Gate closure: the session clears and the page shows the order by itself.
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    page.wait_for_selector("main[data-state='DELIVERING']")
    (order,) = op.orders(s.session_id)
    assert order["offer_id"] == offer_id
    page.wait_for_selector(f"#orders-table code[title='{order['order_id']}']")

    # Dispatch: the operator's status, then the FSP's acknowledgement (an event: live redraw).
    op.report_dispatch(
        DispatchStatusCreate(
            session_id=s.session_id, order_id=order["order_id"], station_id="CS-1", state="SENT"
        )
    )
    fsp.ack_dispatch(s.session_id, [order["order_id"]])
    page.wait_for_selector("#orders-table >> text=CS-1: SENT")
    row = page.locator("#orders-table tbody tr").first.inner_text()
    assert "yes" in row  # acknowledged for dispatch

    # Delivery attested: the payout is settled on-chain and withdrawable from the page.
    chain.warp_to(s.delivery_end + 61)
    sign_in()  # the chain's clock moved past the first sign-in's expiry
    attest_in_full(chain, runtime.ledger, s.session_id, b"\x01" * 32)
    worker.run_once()
    page.wait_for_selector("main[data-state='VERIFIED']")
    page.wait_for_selector("#settled-total")
    fsp.sign_in()  # the test's client too
    payout = sum(st["payout_units"] for st in fsp.settlements(s.session_id))
    assert payout > 0
    assert page.locator("#settled-total").get_attribute("data-units") == str(payout)
    # After the challenge window the session is final and the payout a withdrawable credit.
    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()
    page.wait_for_selector("main[data-state='FINAL']")
    page.wait_for_selector("#credits-units:not([data-units='0'])")
    credits = int(page.locator("#credits-units").get_attribute("data-units"))
    assert credits == runtime.ledger.market.credits(me) > 0
    balance = chain.contracts.token.balance_of(me)
    page.click("#withdraw")
    page.wait_for_selector("#credits-units[data-units='0']")
    assert chain.contracts.token.balance_of(me) == balance + credits
    live_web.screenshot("fsp-offer-journey")
    live_web.assert_clean()
