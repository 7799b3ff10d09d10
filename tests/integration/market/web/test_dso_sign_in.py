"""/dso sign-in with a local development key (SIWE signed in the page with ethers), the DSO's
own statement with CSV and JSON downloads, a bad key refused, and sign-out; the DSO statement
per session and per month as CSV and UFTP XML."""

from __future__ import annotations

import csv as csv_module
import io
import json
import uuid
from pathlib import Path
from urllib.request import urlopen

import pytest

from market.clearing_house.dso_statement import DSO_CSV_COLUMNS
from market.clearing_house.uftp_xml import MARKET_DSO_DOMAIN, parse_flex_settlement_xml
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


def test_dso_downloads_its_session_and_month_statements_as_csv_and_uftp_xml(
    web, finished_market
) -> None:
    """The DSO statement (GET /dso-statements/{session|YYYY-MM}) saved from /dso with the page's
    token: the CSV names the DSO on every line, the XML is a FlexSettlement the UFTP library
    parses back, sent from the DSO's domain and numbered for this DSO and period."""
    report = finished_market.report
    dso = report["participants"]["asm-terni"].lower()
    sid = finished_market.session_id
    page = web.page
    web.open(f"/dso?session={sid}")
    page.wait_for_selector("#status.ok")
    month = page.evaluate(
        "(ts) => new Date(ts * 1000).toISOString().slice(0, 7)",
        _delivery_start(finished_market),
    )
    assert not page.locator("#dso-statement-session-csv").count()  # signed out: no buttons

    page.fill("#dev-key", derived_key(report["seed"], "asm-terni"))
    page.click("#sign-in-key")
    page.wait_for_selector("#dso-statement-session-csv")
    assert month in page.locator("#dso-statement").inner_text()
    bundle = finished_market.folder / "bundles" / sid / "delivery.json"
    orders = {o["order_id"] for o in json.loads(bundle.read_bytes())["report"]["orders"]}
    for kind, period in (("session", sid), ("month", month)):
        with page.expect_download() as csv:
            page.click(f"#dso-statement-{kind}-csv")
        assert csv.value.suggested_filename == f"dso-statement-{period}.csv"
        rows = list(csv_module.reader(io.StringIO(Path(csv.value.path()).read_text())))
        assert tuple(rows[0]) == DSO_CSV_COLUMNS
        assert len(rows) > 1 and all(r[0] == dso and r[1] == period for r in rows[1:])
        assert {r[3] for r in rows[1:]} >= {"escrowed", "paid_to_fsp"}

        with page.expect_download() as xml:
            page.click(f"#dso-statement-{kind}-xml")
        assert xml.value.suggested_filename == f"dso-statement-{period}.xml"
        text = Path(xml.value.path()).read_text()
        parsed = parse_flex_settlement_xml(text)
        assert parsed.sender_domain == MARKET_DSO_DOMAIN
        assert parsed.message_id == str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"flexmarket:dso:{dso}:{period}")
        )
        assert {o.order_reference for o in parsed.flex_order_settlements} == orders
    web.assert_clean()


def test_a_party_without_a_request_gets_no_dso_statement_buttons(web, finished_market) -> None:
    """An FSP of the session signed in on /dso sees why it has no DSO statement (no refused
    fetch is made) next to its own netted statement."""
    report = finished_market.report
    bundle = finished_market.folder / "bundles" / finished_market.session_id / "delivery.json"
    paid = {o["fsp"].lower() for o in json.loads(bundle.read_bytes())["report"]["orders"]}
    fsp = next(n for n, a in report["participants"].items() if a.lower() in paid)
    page = web.page
    web.open(f"/dso?session={finished_market.session_id}")
    page.wait_for_selector("#status.ok")
    page.fill("#dev-key", derived_key(report["seed"], fsp))
    page.click("#sign-in-key")
    page.wait_for_selector("#dso-statement-none")
    assert "posted no request" in page.locator("#dso-statement-none").inner_text()
    assert not page.locator("#dso-statement-session-csv").count()
    page.wait_for_selector("#statement-table")
    web.assert_clean()


def _delivery_start(finished_market) -> int:

    url = f"{finished_market.base_url}/sessions/{finished_market.session_id}"
    with urlopen(url) as answer:
        return int(json.loads(answer.read())["delivery_start"])


def test_a_party_outside_the_netting_is_told_so_without_a_refused_fetch(
    web, finished_market
) -> None:
    """``GET /statements?participant=`` lists the periods with a statement of that address, so
    the page never asks for a statement that is not there (a 404 is a console error)."""
    report, sid = finished_market.report, finished_market.session_id
    base = finished_market.base_url
    netted = _get(f"{base}/statements")
    assert sid in netted
    outside = [
        name
        for name, address in report["participants"].items()
        if sid not in _get(f"{base}/statements?participant={address}")
    ]
    assert outside, "every participant took part in the netting"
    inside = [n for n in report["participants"] if n not in outside]
    assert "asm-terni" in inside
    page = web.page
    web.open(f"/dso?session={sid}")
    page.wait_for_selector("#status.ok")
    page.fill("#dev-key", derived_key(report["seed"], outside[0]))
    page.click("#sign-in-key")
    page.wait_for_selector("#statement-none")
    assert "took no part in its netting" in page.locator("#statement-none").inner_text()
    web.assert_clean()


def _get(url: str) -> list[str]:
    with urlopen(url) as answer:
        return list(json.loads(answer.read()))
