"""/auditor: on-chain evidence of a finished session, the audit passing, a tampered bundle
failing, and the whole flow by keyboard."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


def _tampered_result(finished_market) -> bytes:
    """The published result bundle with one order's power raised by 1 W."""
    sid = finished_market.session_id
    raw = (finished_market.folder / "bundles" / sid / "result.json").read_bytes()
    body = json.loads(raw)
    body["orders"][0]["isps"][0]["power_w"] += 1
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def test_evidence_endpoint_reads_roots_and_transactions_from_the_chain(finished_market) -> None:
    sid = finished_market.session_id
    ev = httpx.get(f"{finished_market.base_url}/sessions/{sid}/evidence", timeout=60).json()
    roots = finished_market.report["sessions"]["day-ahead"]["roots"]
    assert ev["chain_state"] == "FINAL"
    assert ev["input_hash"] == roots["input_hash"]
    assert ev["result_root"] == roots["result_root"]
    assert ev["delivery_root"] == roots["delivery_root"]
    events = {e["event"]: e for e in ev["events"]}
    assert {"SessionCreated", "ClearingPosted", "DeliveryAttested", "SessionFinalized"} <= set(
        events
    )
    receipt = httpx.post(
        finished_market.rpc_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getTransactionReceipt",
            "params": [events["ClearingPosted"]["tx_hash"]],
        },
    ).json()["result"]
    assert int(receipt["blockNumber"], 16) == events["ClearingPosted"]["block"]
    assert [b["kind"] for b in ev["bundles"]] == [
        "input",
        "result",
        "delivery",
        "netting",
        "readings",
        "terms",
    ]
    assert all(r["hash_matches"] and not r["cancelled"] for r in ev["requests"])


def test_evidence_of_an_unknown_session_is_a_404_problem(finished_market) -> None:
    r = httpx.get(f"{finished_market.base_url}/sessions/nope/evidence")
    assert r.status_code == 404 and r.json()["field"] == "session_id"


def test_audit_endpoint_refuses_an_empty_bundle_and_an_unknown_kind(finished_market) -> None:
    base = f"{finished_market.base_url}/sessions/{finished_market.session_id}/audit"
    empty = httpx.post(f"{base}/result", content=b"")
    assert empty.status_code == 422 and empty.json()["field"] == "body"
    unknown = httpx.post(f"{base}/receipts", content=b"{}")
    assert unknown.status_code == 422 and unknown.json()["field"] == "path.kind"


def test_auditor_sees_evidence_runs_the_audit_and_a_tampered_bundle_fails(
    web, finished_market, tmp_path
) -> None:
    page = web.page
    web.open(f"/auditor?session={finished_market.session_id}")
    page.wait_for_selector("#events-table tbody tr")
    roots = finished_market.report["sessions"]["day-ahead"]["roots"]
    assert roots["result_root"] in page.locator("#roots-table").inner_text()
    events = page.locator("#events-table").inner_text()
    assert "ClearingPosted" in events and "SessionFinalized" in events
    links = page.locator("#bundles-table a")
    assert links.count() == 6  # input, result, delivery, netting, readings (CPO digests), terms
    with page.expect_download() as download:
        links.nth(1).click()
    sid = finished_market.session_id
    published = (finished_market.folder / "bundles" / sid / "result.json").read_bytes()
    assert Path(download.value.path()).read_bytes() == published

    page.click("#run-audit")
    page.wait_for_selector("#audit-verdict", timeout=120_000)
    assert page.locator("#audit-verdict").get_attribute("data-result") == "pass"
    checks = page.locator(".check[data-check]")
    names = {checks.nth(i).get_attribute("data-check") for i in range(checks.count())}
    assert {"bundle_hashes", "offers", "clearing", "delivery", "money", "lifecycle"} <= names
    assert page.locator(".check[data-check='bundle_hashes']").get_attribute("data-status") == (
        "pass"
    )
    assert "flexmarket-audit-" not in page.locator("#audit").inner_text()  # no temp paths
    web.screenshot("auditor")

    tampered = tmp_path / "result.json"
    tampered.write_bytes(_tampered_result(finished_market))
    page.select_option("#tamper-kind", "result")
    page.set_input_files("#tamper-file", str(tampered))
    page.click("#run-tampered")
    page.wait_for_selector("#audit-replaced", timeout=120_000)
    assert page.locator("#audit-verdict").get_attribute("data-result") == "fail"
    hashes = page.locator(".check[data-check='bundle_hashes']")
    assert hashes.get_attribute("data-status") == "fail"
    assert "bundle.result_root_invalid" in hashes.inner_text()
    web.screenshot("auditor-tampered")
    web.assert_clean()


def test_auditor_flow_works_by_keyboard(web, finished_market) -> None:
    page = web.page
    web.open("/auditor")
    page.wait_for_selector("#events-table tbody tr")
    reached = []
    for _ in range(12):  # nav links, then the session picker, then the button
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        reached.append(focused)
        if focused == "run-audit":
            break
    assert "session" in reached and reached[-1] == "run-audit", reached
    page.keyboard.press("Enter")
    page.wait_for_selector("#audit-verdict", timeout=120_000)
    assert page.locator("#audit-verdict").get_attribute("data-result") == "pass"
    web.assert_clean()


def test_every_form_field_on_the_auditor_page_has_a_label(web) -> None:
    web.open("/auditor")
    web.page.wait_for_selector("#session option", state="attached")
    unlabelled = web.page.evaluate(
        """[...document.querySelectorAll('input, select, textarea')]
             .filter((f) => !f.labels || f.labels.length === 0).map((f) => f.id)"""
    )
    assert unlabelled == []
    web.assert_clean()


def test_a_second_audit_while_one_runs_gets_429(finished_market) -> None:
    from market.api.routers import audit

    assert audit._RUNNING.acquire(timeout=120)  # stands for an audit in progress
    try:
        r = httpx.get(
            f"{finished_market.base_url}/sessions/{finished_market.session_id}/audit", timeout=30
        )
    finally:
        audit._RUNNING.release()
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")


def test_auditor_views_a_saved_cli_result(web, finished_market, tmp_path) -> None:
    """The page renders ``flexmarket audit --json`` output: the CLI run here, as a user would."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[4]
    done = subprocess.run(
        [sys.executable, "-m", "market.cli", "audit", "--rpc", finished_market.rpc_url,
         "--market", finished_market.report["market_address"],
         "--bundles", str(finished_market.folder / "bundles"), "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(repo)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "audit.json"
    saved.write_text(done.stdout)
    page = web.page
    web.open("/auditor")
    page.wait_for_selector("#events-table tbody tr")
    page.set_input_files("#cli-file", str(saved))
    page.click("#show-cli")
    page.wait_for_selector("#cli-verdict")
    assert page.locator("#cli-verdict").get_attribute("data-result") == "pass"
    checks = page.locator("#cli-result .check[data-check='clearing']")
    assert checks.count() == 1 and checks.get_attribute("data-status") == "pass"
    web.assert_clean()
