"""/dso sign-in with a local development key (SIWE signed in the page with ethers), the DSO's
own statement with CSV and JSON downloads, a bad key refused, and sign-out."""

from __future__ import annotations

from pathlib import Path

import pytest

from market.replay.derive import derived_key

pytestmark = pytest.mark.integration


def test_dso_signs_in_reads_and_downloads_its_statement_then_signs_out(
    web, finished_market
) -> None:
    report = finished_market.report
    dso = report["participants"]["asm-terni"]  # the UC5 DSO
    key = derived_key(report["seed"], "asm-terni")
    page = web.page
    web.open(f"/dso?session={finished_market.session_id}")
    page.wait_for_selector("#status.ok")
    page.fill("#dev-key", "not-a-key")
    page.click("#sign-in-key")
    page.wait_for_selector("#who.bad")
    assert "not a private key" in page.locator("#who").inner_text()

    page.fill("#dev-key", key)
    page.click("#sign-in-key")
    page.wait_for_selector("#who.ok")
    assert dso.lower() in page.locator("#who").inner_text().lower()
    assert page.locator("#dev-key").input_value() == ""  # the key does not stay in the page
    page.wait_for_selector("#statement-table")
    assert dso.lower() in page.locator("#statement-table").inner_text().lower()
    with page.expect_download() as csv:
        page.click("#statement-csv")
    assert Path(csv.value.path()).read_text().strip()
    with page.expect_download() as saved:
        page.click("#statement-json")
    assert dso.lower() in Path(saved.value.path()).read_text().lower()
    web.screenshot("dso-signed-in")

    page.click("#sign-out")
    page.wait_for_selector("#who.muted")
    assert page.locator("#statement").inner_text() == ""
    web.assert_clean()
