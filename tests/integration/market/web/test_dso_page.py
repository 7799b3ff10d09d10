"""/dso (read-only): a finished session's requests with their escrow, offers, orders,
delivery against baseline per order, and the budget / payout / refund split."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def _eur(units: int) -> str:
    whole, fraction = divmod(units, 1_000_000)
    text = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{whole}.{text} EUR"


def test_dso_sees_escrow_offers_orders_delivery_and_money(web, finished_market) -> None:
    sid = finished_market.session_id
    session = finished_market.report["sessions"]["day-ahead"]
    delivery = json.loads(
        (finished_market.folder / "bundles" / sid / "delivery.json").read_bytes()
    )["report"]
    page = web.page
    web.open(f"/dso?session={sid}")
    page.wait_for_selector("#money-split tbody tr")

    requests = page.locator("#requests-table tbody tr")
    assert requests.count() == session["requests"]
    (refund,) = session["refunds"]
    assert f"escrowed {_eur(refund['budget_units'])}" in requests.first.inner_text()

    assert page.locator("#offers-table tbody tr").count() == session["offers"]
    assert page.locator("#orders-table tbody tr").count() == session["orders"]

    order = delivery["orders"][0]
    per_isp = page.locator(f".delivery-table[data-order='{order['order_id']}'] tbody tr")
    assert per_isp.count() == len(order["isps"])
    first = per_isp.first.inner_text()
    assert str(order["isps"][0]["baseline_w"]) in first
    assert str(order["isps"][0]["actual_w"]) in first
    assert page.locator(".chart canvas").count() >= 1  # uPlot drew the order

    actual = sorted(i["actual_w"] for i in order["isps"])
    per_order = page.locator(f".delivery-table[data-order='{order['order_id']}']")
    per_order.get_by_role("button", name="actual W").click()
    assert per_isp.first.locator("td").nth(3).inner_text() == str(actual[0])
    per_order.get_by_role("button", name="actual W").click()
    assert per_isp.first.locator("td").nth(3).inner_text() == str(actual[-1])
    assert "No dispute was raised." in page.locator("#dispute-state").inner_text()

    split = page.locator("#money-split tbody tr").inner_text()
    paid = sum(p["payout_units"] for p in session["payouts"])
    assert _eur(refund["budget_units"]) in split
    assert _eur(paid) in split and _eur(refund["refund_units"]) in split
    web.screenshot("dso")
    web.assert_clean()


def test_every_form_field_on_every_page_has_a_label(web) -> None:
    for path in ("/", "/dso", "/fsp", "/auditor"):
        web.open(path)
        web.page.wait_for_selector("#status.ok", timeout=60_000)
        unlabelled = web.page.evaluate(
            """[...document.querySelectorAll('input, select, textarea, button')]
                 .filter((f) => f.tagName === 'BUTTON' ? !f.textContent.trim()
                                : !f.labels || f.labels.length === 0)
                 .map((f) => f.id || f.outerHTML)"""
        )
        assert unlabelled == [], path
    web.assert_clean()
