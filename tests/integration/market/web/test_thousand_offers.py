"""/fsp and /dso with 1 000 offers in a session: each page renders its first page of offers
(only one page is in the DOM) and pages through the rest; content is asserted, not timing."""

from __future__ import annotations

import pytest
from market_helpers import client_for, make_offer, make_worker, open_session, setup_market

from market.api.schemas import ParticipantCreate

pytestmark = pytest.mark.integration

OFFERS = 1_000
PAGE = 50  # common.js pagedTable's default page size


def test_fsp_and_dso_pages_page_through_a_thousand_offers(live_web, chain, runtime, server) -> None:
    op = client_for(server, chain, "operator", runtime)
    fsp = client_for(server, chain, "fsp_a", runtime)
    setup_market(op)
    fsp.register_participant(ParticipantCreate(name="EMSP A"))
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    for i in range(OFFERS):  # signed as over HTTP, handed to the core in-process (faster)
        offer = make_offer(
            s.session_id, fsp.address, expires_at=s.gate_closure, price=1_000_000 * (i + 1)
        )
        runtime.core.submit("offer", fsp.sign("offer", offer))
    fsp.sign_in()
    ids = [o["body"]["offer_id"] for o in fsp.offers(s.session_id)]  # the API's order
    assert len(ids) == OFFERS

    page = live_web.page
    me = fsp.address.lower()
    live_web.open(f"/fsp?fsp={me}&session={s.session_id}")
    page.wait_for_selector("#status.ok")
    page.select_option("#dev-account", me)
    page.click("#sign-in-dev")
    page.wait_for_selector("#offers-table")
    caption = page.locator("#offers-table caption").inner_text()
    assert caption == f"Offers 1–{PAGE} of {OFFERS}"
    rows = page.locator("#offers-table tbody tr")
    assert rows.count() == PAGE
    first = page.eval_on_selector_all("#offers-table tbody code", "(cs) => cs.map((c) => c.title)")
    assert first == ids[:PAGE]
    assert f"page 1 of {OFFERS // PAGE}" in page.locator("#offers-box .pager").inner_text()
    page.click("#offers-next")
    page.wait_for_selector(f"#offers-table caption >> text=Offers {PAGE + 1}–{2 * PAGE}")
    second = page.eval_on_selector_all("#offers-table tbody code", "(cs) => cs.map((c) => c.title)")
    assert second == ids[PAGE : 2 * PAGE]
    assert page.locator("#offers-table tbody tr").count() == PAGE
    live_web.screenshot("fsp-thousand-offers")

    # After gate closure the offers are public: the DSO dashboard pages through them too.
    chain.warp_to(s.gate_closure + 1)
    make_worker(runtime).run_once()
    live_web.open(f"/dso?session={s.session_id}")
    page.wait_for_selector("#offers-table")
    assert page.locator("#offers-table caption").inner_text() == f"Offers 1–25 of {OFFERS}"
    assert page.locator("#offers-table tbody tr").count() == 25
    assert "page 1 of 40" in page.locator("#offers-box .pager").inner_text()
    live_web.assert_clean()
