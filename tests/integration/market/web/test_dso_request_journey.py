"""A DSO creates a request from /dso on a live market, by keyboard only, and sees it cleared,
delivered and settled without reloading (server-sent events redraw the page).

The page signs in with the local chain's development account the server lists, signs the
request (EIP-712: the wallet's summary shows the budget and maximum price), approves and escrows
the budget on-chain through the same-origin relay, and POSTs it. The test then plays the other
parties (an FSP's offer, the clock, the meter oracle) and drives the worker between steps.
"""

from __future__ import annotations

import pytest
from market_helpers import (
    attest_in_full,
    client_for,
    commit,
    make_offer,
    make_worker,
    open_session,
    setup_market,
)

from clearing.encoding import uuid_to_bytes32
from clearing.messages import FlexRequest

pytestmark = pytest.mark.integration


def tab_to(page, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element has the focus (fails if the keyboard cannot reach it)."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} is not reachable by Tab")


def type_into(page, element_id: str, text: str) -> None:
    tab_to(page, element_id)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def test_dso_creates_a_request_by_keyboard_and_sees_it_cleared_delivered_settled(
    live_web, chain, runtime, server
) -> None:
    op = client_for(server, chain, "operator", runtime)
    fsp = client_for(server, chain, "fsp_a", runtime)
    setup_market(op)
    s = open_session(op, int(runtime.core.clock.now()))
    worker = make_worker(runtime)
    worker.run_once()
    dso_address = chain.addresses["dso"].lower()

    page = live_web.page
    live_web.open(f"/dso?session={s.session_id}")
    page.wait_for_selector("#status.ok")
    page.wait_for_selector("#live.ok")  # the event stream is open
    page.wait_for_selector("#dev-accounts:not([hidden])")
    assert page.locator("#dev-account option").count() == 10
    tab_to(page, "dev-account")
    while page.locator("#dev-account").input_value() != dso_address:
        page.keyboard.press("ArrowDown")
    tab_to(page, "sign-in-dev")
    page.keyboard.press("Enter")
    page.wait_for_selector("#who.ok")
    assert dso_address in page.locator("#who").inner_text().lower()

    type_into(page, "req-max-w", "12000")
    type_into(page, "req-max-price", "250.5")
    type_into(page, "req-budget", "30")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector("#req-steps li.done[data-step='submitted']", timeout=90_000)
    summary = page.locator("#req-summary").inner_text()
    assert "budget 30.00 EUR" in summary and "max price 250.50 EUR/MWh" in summary
    assert "up to 12000 W in 4 ISPs" in summary
    request_id = page.locator("#request-form").get_attribute("data-request-id")

    # Stored as signed, escrowed on-chain with the same hash, and shown as escrowed.
    (stored,) = op.requests(s.session_id)
    request = FlexRequest.model_validate(stored["body"])
    assert request.request_id == request_id and stored["submitter"].lower() == dso_address
    assert (request.budget_units, request.max_price_per_mwh) == (30_000_000, 250_500_000)
    held = runtime.ledger.market.request(uuid_to_bytes32(request_id))
    assert held.request_hash == request.canonical_hash() and held.dso.lower() == dso_address
    page.wait_for_selector("#requests-table >> text=escrowed 30.00 EUR")
    assert "No statement yet" in page.locator("#statement").inner_text()
    # Sign out by keyboard too: the test moves the chain's clock past the sign-in's expiry.
    tab_to(page, "sign-out")
    page.keyboard.press("Enter")
    page.wait_for_selector("#who.muted")

    # An FSP answers; gate closure clears the session: the page follows by itself.
    offer = make_offer(
        s.session_id, fsp.address, expires_at=s.gate_closure, request_id=request_id, power_w=6000
    )
    fsp.post_offer(offer)
    commit(chain, "fsp_a", s.session_id, [offer])
    chain.warp_to(s.gate_closure + 1)
    worker.run_once()
    page.wait_for_selector("main[data-state='DELIVERING']")
    (order,) = op.orders(s.session_id)
    assert order["order_id"][:10] in page.locator("#orders-table").inner_text()

    chain.warp_to(s.delivery_end + 61)
    attest_in_full(chain, runtime.ledger, s.session_id, b"\x01" * 32)
    worker.run_once()
    page.wait_for_selector("main[data-state='VERIFIED']")
    chain.warp_to(s.delivery_end + 61 + 301)
    worker.run_once()
    page.wait_for_selector("main[data-state='FINAL']")
    assert "FINAL" in page.locator("#summary-table").inner_text()
    live_web.screenshot("dso-request-journey")
    live_web.assert_clean()
