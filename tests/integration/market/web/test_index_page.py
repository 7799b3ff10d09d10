"""``/`` links the role pages and shows the market's state from the public read endpoints."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_index_shows_sessions_by_state_and_links_every_role(web, finished_market) -> None:
    web.open("/")
    web.page.wait_for_selector("#sessions-table tbody tr")
    assert web.page.locator("#count-sessions .value").inner_text() == "1"
    assert web.page.locator("#count-state-FINAL .value").inner_text() == "1"
    participants = len(finished_market.report["participants"])
    assert int(web.page.locator("#count-participants .value").inner_text()) >= participants - 1
    row = web.page.locator("#sessions-table tbody tr").first.inner_text()
    assert finished_market.session_id in row and "FINAL" in row
    for href in ("/dso", "/fsp", "/auditor", "/docs", "/redoc"):
        assert web.page.locator(f"header nav a[href='{href}']").count() == 1
    web.screenshot("index")
    web.assert_clean()


def test_an_unknown_page_is_a_problem_not_a_blank_page(finished_market) -> None:
    import httpx

    r = httpx.get(finished_market.base_url + "/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
