"""report.html of a finished replay carries the evidence tables report.json leaves out."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_report_html_shows_orders_offers_times_money_chain_audit_and_stations(
    web, finished_market
) -> None:
    folder, sid = finished_market.folder, finished_market.session_id
    session = finished_market.report["sessions"]["day-ahead"]
    result = json.loads((folder / "bundles" / sid / "result.json").read_bytes())
    delivery = json.loads((folder / "bundles" / sid / "delivery.json").read_bytes())
    evidence = httpx.get(f"{finished_market.base_url}/sessions/{sid}/evidence", timeout=60).json()
    page = web.page
    page.goto((folder / "report.html").as_uri())
    tables = {
        page.locator("caption").nth(i).inner_text(): page.locator("caption").nth(i).locator("..")
        for i in range(page.locator("caption").count())
    }
    assert result["orders"][0]["order_id"] in tables["Orders"].inner_text()
    offers = tables["Offers"].locator("tr")
    assert offers.count() == 1 + session["offers"]
    assert "gate closure" in tables["Times"].inner_text()
    split = tables["Budget / payout / refund split"].inner_text()
    (refund,) = session["refunds"]
    whole, frac = divmod(refund["refund_units"], 1_000_000)
    assert f"{whole}.{frac:06d}" in split
    txs = tables["Transactions"].inner_text()
    clearing = next(e for e in evidence["events"] if e["event"] == "ClearingPosted")
    assert clearing["tx_hash"] in txs and session["roots"]["result_root"] in txs
    stations = {m["station"] for o in delivery["report"]["orders"] for m in o["meters"]}
    per_station = tables["Delivery per station (metered over the ordered ISPs)"].inner_text()
    assert stations and all(s in per_station for s in stations)
    audit = next(t for c, t in tables.items() if c.startswith(f"Session {sid}: "))
    assert "bundle_hashes\tpass" in audit.inner_text()
    # netted on-chain here, so no off-chain note (tests/e2e/test_replays.py checks the unnetted)
    assert page.locator(".off-chain").count() == 0
    web.screenshot("report")
    web.assert_clean()
    report_json = (folder / "report.json").read_text()
    assert clearing["tx_hash"] not in report_json  # the canonical report stays as it was
