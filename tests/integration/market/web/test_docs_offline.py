"""/docs and /redoc render from the service alone: every request elsewhere is aborted."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_swagger_ui_renders_its_operations_offline(web) -> None:
    web.open("/docs")
    web.page.wait_for_selector(".opblock", timeout=30_000)
    operations = web.page.locator(".opblock-summary-path").all_inner_texts()
    assert "/sessions/{session_id}/audit" in [o.replace("\u200b", "") for o in operations]
    assert len(operations) > 30
    web.screenshot("docs")
    web.assert_clean()


def test_redoc_renders_offline(web) -> None:
    web.open("/redoc")
    web.page.wait_for_selector("text=Local flexibility marketplace", timeout=30_000)
    assert web.page.locator("h2").count() > 10  # one heading per operation
    web.screenshot("redoc")
    web.assert_clean()


def test_fastapi_cdn_pages_are_gone_and_pages_forbid_other_origins(finished_market) -> None:
    import httpx

    r = httpx.get(finished_market.base_url + "/docs")
    assert r.status_code == 200
    assert "cdn.jsdelivr" not in r.text and "/vendor/swagger-ui/" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    vendor = httpx.get(finished_market.base_url + "/vendor/swagger-ui/swagger-ui-bundle.js")
    assert vendor.status_code == 200 and len(vendor.content) > 100_000
