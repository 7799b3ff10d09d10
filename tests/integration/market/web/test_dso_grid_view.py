"""/dso grid view: the single-line view of the congestion points with their limits, and per
point the forecast loading per ISP before and after the ordered and the delivered flexibility;
and the tables sort by keyboard (Enter on a column header), with aria-sort set."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def _expected(base_url: str, sid: str, folder: Any) -> tuple[list[Any], Any]:
    """Per point and ISP: [forecast, requested, ordered, delivered] (signed), from the API."""
    points = httpx.get(f"{base_url}/congestion-points").json()
    prognoses = httpx.get(f"{base_url}/sessions/{sid}/prognoses").json()
    orders = httpx.get(f"{base_url}/sessions/{sid}/orders").json()
    requests = httpx.get(f"{base_url}/sessions/{sid}/requests").json()
    delivery = json.loads((folder / "bundles" / sid / "delivery.json").read_bytes())["report"]
    rows: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for p in prognoses:
        for i in p["body"]["isps"]:
            rows[p["body"]["congestion_point"]][i["isp_index"]][0] += i["power_w"]
    for r in requests:
        body = r["body"]
        s = -1 if body["direction"] == "UP" else 1
        for i in body["isps"]:
            rows[body["congestion_point"]][i["isp_index"]][1] += s * i["max_power_w"]
    sign = {}
    for o in orders:
        sign[o["order_id"]] = (o["congestion_point"], -1 if o["direction"] == "UP" else 1)
        for i in o["isps"]:
            rows[o["congestion_point"]][i["isp_index"]][2] += sign[o["order_id"]][1] * i["power_w"]
    for o in delivery["orders"]:
        cp, s = sign[o["order_id"]]
        for i in o["isps"]:
            assert i["status"] == "verified"
            rows[cp][i["isp_index"]][3] += s * i["delivered_w"]
    return points, rows


def test_dso_grid_shows_points_limits_and_loading_before_and_after(web, finished_market) -> None:
    sid = finished_market.session_id
    points, expected = _expected(finished_market.base_url, sid, finished_market.folder)
    assert expected, "the replay has prognoses or orders at some point"
    page = web.page
    web.open(f"/dso?session={sid}")
    page.wait_for_selector(".loading-table tbody tr")

    drawing = page.locator("#grid-single-line")
    assert drawing.locator("g.cp").count() == len(points)
    for point in points:
        label = drawing.locator(f"g.cp[data-code='{point['code']}']").text_content() or ""
        assert point["code"] in label
        if point["max_increase_w"] is not None:
            assert f"+{point['max_increase_w']} W" in label
        elif point["max_decrease_w"] is None:
            assert "no limits registered" in label

    ordered_somewhere = requested_somewhere = False
    for code, per_isp in expected.items():
        body = page.locator(f".loading-table[data-point='{code}'] tbody tr")
        assert body.count() == len(per_isp)
        for n, isp in enumerate(sorted(per_isp)):
            forecast, requested, ordered, delivered = per_isp[isp]
            cells = body.nth(n).locator("td").all_inner_texts()
            assert cells[0] == str(isp)
            assert cells[2:8] == [
                str(forecast),
                str(requested),
                str(ordered),
                str(forecast + ordered),
                str(delivered),
                str(forecast + delivered),
            ]
            ordered_somewhere |= ordered != 0
            requested_somewhere |= requested != 0
    assert ordered_somewhere, "some ISP has ordered flexibility (after differs from before)"
    assert requested_somewhere, "some ISP has requested flexibility"
    assert page.locator("#grid .chart canvas").count() == len(expected)
    web.screenshot("dso-grid")
    web.assert_clean()


def test_dso_tables_sort_by_keyboard(web, finished_market) -> None:
    sid = finished_market.session_id
    page = web.page
    web.open(f"/dso?session={sid}")
    page.wait_for_selector(".loading-table tbody tr")
    table = page.locator(".loading-table").first
    header = table.get_by_role("button", name="forecast W")
    th = table.locator("thead th").nth(2)
    assert th.get_attribute("aria-sort") == "none"
    values = [int(v) for v in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert len(set(values)) > 1, "the forecast varies over the ISPs, so sorting shows"

    header.focus()
    page.keyboard.press("Enter")
    assert th.get_attribute("aria-sort") == "ascending"
    shown = [int(v) for v in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert shown == sorted(values)
    page.keyboard.press("Enter")
    assert th.get_attribute("aria-sort") == "descending"
    shown = [int(v) for v in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert shown == sorted(values, reverse=True)
    # sorting another column resets this one
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert th.get_attribute("aria-sort") == "none"
    assert table.locator("thead th").nth(3).get_attribute("aria-sort") == "ascending"
    web.assert_clean()
