"""/fsp: one FSP's assets, offers, orders, dispatch acknowledgements, delivery and payouts of the
replayed session, read from the served market; every field labelled."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def _fsp_with_orders(finished_market) -> tuple[str, list[dict], int]:
    """An FSP that won orders, its orders and its payout in the published delivery bundle."""
    base, sid = finished_market.base_url, finished_market.session_id
    orders = httpx.get(f"{base}/sessions/{sid}/orders", timeout=30).json()
    bundle = httpx.get(f"{base}/sessions/{sid}/bundles/delivery", timeout=30).json()
    fsp = orders[0]["fsp"].lower()
    mine = [o for o in orders if o["fsp"].lower() == fsp]
    payout = sum(p["payout_units"] for p in bundle["report"]["payouts"] if p["fsp"].lower() == fsp)
    return fsp, mine, payout


def test_fsp_desk_shows_its_orders_delivery_and_payout(web, finished_market) -> None:
    fsp, mine, payout = _fsp_with_orders(finished_market)
    assert mine and payout > 0
    page = web.page
    web.open(f"/fsp?fsp={fsp}&session={finished_market.session_id}")
    page.wait_for_selector("#payout-total")
    assert page.locator("#fsp").input_value() == fsp
    rows = page.locator("#orders-table tbody tr")
    assert rows.count() == len(mine)
    shown = {rows.nth(i).locator("code").get_attribute("title") for i in range(rows.count())}
    assert shown == {o["order_id"] for o in mine}
    assert page.locator("#payout-total").get_attribute("data-units") == str(payout)
    assert page.locator("#delivery-table tbody tr").count() == len(mine)
    assets = httpx.get(f"{finished_market.base_url}/assets", params={"owner": fsp}).json()
    assert page.locator("#assets-table tbody tr").count() == max(1, len(assets))
    offers = page.locator("#offers-table tbody tr")
    assert offers.count() >= 1  # the session is past gate closure: offers are public
    web.screenshot("fsp")
    web.assert_clean()


def test_another_fsp_sees_only_its_own_orders(web, finished_market) -> None:
    fsp, mine, _ = _fsp_with_orders(finished_market)
    page = web.page
    web.open(f"/fsp?session={finished_market.session_id}")
    page.wait_for_selector("#fsp option", state="attached")
    values = page.eval_on_selector_all("#fsp option", "(os) => os.map((o) => o.value)")
    assert fsp in values
    others = [v for v in values if v != fsp]
    if not others:
        pytest.skip("the replayed market has a single FSP")
    page.select_option("#fsp", others[0])
    page.click("#show")
    shown = f"{others[0]} {finished_market.session_id}"
    page.wait_for_selector(f"main[data-shown='{shown}']")
    text = page.locator("#orders-table").inner_text()
    assert all(o["order_id"][:10] not in text for o in mine)
    web.assert_clean()


def test_every_form_field_on_the_fsp_page_has_a_label(web) -> None:
    response = web.open("/fsp")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    web.page.wait_for_selector("#status.ok", timeout=60_000)  # the tables are rendered
    unlabelled = web.page.evaluate(
        """[...document.querySelectorAll('input, select, textarea, button')]
             .filter((f) => f.tagName === 'BUTTON' ? !f.textContent.trim()
                            : !f.labels || f.labels.length === 0)
             .map((f) => f.id || f.outerHTML)"""
    )
    assert unlabelled == []
    web.assert_clean()


def test_fsp_signs_in_and_downloads_its_uftp_settlement(web, finished_market) -> None:
    """Settlements are private: after SIWE (development key) the FSP reads its own statement."""
    from pathlib import Path

    from market.replay.derive import derived_key

    fsp, _, _ = _fsp_with_orders(finished_market)
    report = finished_market.report
    (name,) = [n for n, a in report["participants"].items() if a.lower() == fsp]
    page = web.page
    web.open(f"/fsp?fsp={fsp}&session={finished_market.session_id}")
    page.wait_for_selector("#status.ok")
    assert page.locator("#statement").inner_text() == ""  # nothing private before sign-in
    page.fill("#dev-key", derived_key(report["seed"], name))
    page.click("#sign-in-key")
    page.wait_for_selector("#statement-table")
    assert fsp in page.locator("#statement-table").inner_text().lower()
    with page.expect_download() as xml:
        page.click("#statement-xml")
    assert "FlexSettlement" in Path(xml.value.path()).read_text()
    web.screenshot("fsp-signed-in")
    page.click("#sign-out")
    page.wait_for_selector("#who.muted")
    assert page.locator("#statement").inner_text() == ""
    web.assert_clean()
