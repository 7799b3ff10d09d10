"""The EV-user page in Chromium: an EV user signs in with the token the FSP issued, consents,
opts into the campaign (by keyboard only), and after the session sees what they earned and
why. The session runs through a real gateway (subprocess), real OCPP stations over
websockets, a real market on anvil; the page talks only to the gateway.

Alice consents to both purposes (bidding, itemised statements) and opts in; Bob never
consents, so the gateway offers none of his EV's
flexibility (it charges uncontrolled, at its baseline) and the whole payout is Alice's.
Then Alice's personal data is erased (``flexmarket privacy erase alice``): no row of the
gateway's store names her, her statement's totals stay under a pseudonym, and the audit of
the session passes as before.
fsp.yaml has no ``rpc_url``: the gateway takes the public RPC URL the market advertises in
``GET /deployment``. The test fails on any browser console error and on any request to
another host than the gateway.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
import yaml
from fsp_world import (
    ROOT,
    Gateway,
    deliver_session,
    gateway_config,
    market,
    open_session,
)

from adapters.ports import free_port
from market.audit.runner import run_audit
from market.fsp.erasure import rows_naming
from market.fsp.store import GatewayStore

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "reports" / "screenshots" / "ev-user.png"


def _token(config: Path, user: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "market.cli", "fsp", "token", "--config", str(config)]
    out = subprocess.run(
        [*cmd, "--user", user], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _erase(config: Path, user: str) -> dict[str, Any]:
    """``flexmarket privacy erase USER`` as the FSP's operator runs it; its JSON summary."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "market.cli", "privacy", "erase", user, "--config", str(config)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary: dict[str, Any] = json.loads(out.stdout)
    return summary


def _in_thread(coro: Any) -> None:
    """Run a coroutine on its own loop in another thread: Playwright's sync API holds the
    main thread's event loop."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=500)
    assert not thread.is_alive(), "the session did not finish within 500 s"
    if failure:
        raise failure[0]


def _tab_to(page: Any, element_id: str, limit: int = 40) -> None:
    """Press Tab until ``element_id`` has the focus (fails if it is not reachable)."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} is not reachable by Tab")


def test_an_ev_user_opts_in_and_sees_their_revenue(chain: Any, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    with market(chain, tmp_path) as m:
        session = open_session(m, chain, chain.keys["fsp_a"])
        sid = session.session_id
        api_port = free_port()
        config = gateway_config(m, chain, tmp_path, free_port(), api_port)
        # no rpc_url in fsp.yaml: the gateway uses the public one GET /deployment advertises
        cfg = yaml.safe_load(config.read_text())
        del cfg["rpc_url"]
        config.write_text(yaml.safe_dump(cfg))
        assert m.op.deployment()["public_rpc_url"] == chain.node.rpc_url
        tokens = {u: _token(config, u) for u in ("alice", "bob")}
        gw = Gateway(config, chain.keys["fsp_a"], api_port, cpo_key=chain.keys["cpo"])
        gw.start()
        try:
            gw.wait(lambda s: sid in s["sessions"], what="the session seen as a campaign")
            base = f"http://127.0.0.1:{api_port}"
            problems: list[str] = []
            outside: list[str] = []
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                context = browser.new_context(viewport={"width": 1280, "height": 900})

                def guard(route: Any) -> None:
                    if urlsplit(route.request.url).netloc == urlsplit(base).netloc:
                        route.continue_()
                    else:
                        outside.append(route.request.url)
                        route.abort()

                context.route("**/*", guard)
                page = context.new_page()
                page.set_default_timeout(30_000)
                page.on(
                    "console",
                    lambda msg: problems.append(msg.text) if msg.type == "error" else None,
                )
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

                # ---- by keyboard only: sign in, consent, opt into the campaign, save -----
                assert page.goto(base + "/").ok  # / redirects to the page
                expect(page.locator("h1")).to_have_text("Your EV and the flexibility market")
                assert "token" not in page.url
                _tab_to(page, "user-id")
                page.keyboard.type("alice")
                _tab_to(page, "token")
                page.keyboard.type(tokens["alice"])
                page.keyboard.press("Enter")
                expect(page.locator("#status")).to_have_text("Signed in as alice.")
                assert tokens["alice"] not in page.url
                bidding = page.locator("#purpose-flexibility_bidding")
                expect(bidding).to_contain_text("The market operator")
                expect(bidding).to_contain_text("Only hashes and aggregates")
                expect(page.locator("#purpose-revenue_statements")).to_contain_text(
                    "Without this consent"
                )
                expect(page.locator("#consent-state")).to_contain_text("not offered")
                # one choice per purpose: bidding and the itemised statement, each ticked
                for purpose in ("flexibility_bidding", "revenue_statements"):
                    _tab_to(page, f"consent-{purpose}")
                    page.keyboard.press("Space")
                    expect(page.locator(f"#consent-{purpose}")).to_be_checked()
                _tab_to(page, "save-consent")
                page.keyboard.press("Enter")
                for purpose in ("flexibility_bidding", "revenue_statements"):
                    state = page.locator(f"#consent-state-{purpose}")
                    expect(state).to_contain_text("consent given at")
                box = page.locator(f"#campaign-{sid}")
                expect(box).to_be_enabled()
                _tab_to(page, "min-soc")
                page.keyboard.press("Control+A")
                page.keyboard.type("40")
                _tab_to(page, "opt-in")
                if page.locator("#opt-in").is_checked():
                    page.keyboard.press("Space")  # new campaigns: only when I say so
                expect(page.locator("#opt-in")).not_to_be_checked()
                _tab_to(page, f"campaign-{sid}")
                if not box.is_checked():
                    page.keyboard.press("Space")
                expect(box).to_be_checked()
                _tab_to(page, "save-prefs")
                page.keyboard.press("Enter")
                expect(page.locator("#prefs-state")).to_have_text("Preferences saved.")
                expect(page.locator(f"#campaign-{sid}")).to_be_checked()
                auth = {"Authorization": f"Bearer {tokens['alice']}"}
                stored = httpx.get(f"{base}/ev-users/alice/preferences", headers=auth).json()
                assert stored["campaigns"] == {sid: True} and stored["opt_in"] is False
                assert stored["min_soc_pct"] == 40
                expect(page.locator("#statements")).to_contain_text("No statement yet")

                # ---- the session runs: bid, clear, dispatch, deliver, settle ----------------
                _in_thread(deliver_session(m, chain, gw, config, session))

                # ---- after the session: what Alice earned and why ---------------------------
                (statement,) = httpx.get(f"{base}/ev-users/alice/statements", headers=auth).json()
                bob = httpx.get(
                    f"{base}/ev-users/bob/statements",
                    headers={"Authorization": f"Bearer {tokens['bob']}"},
                ).json()
                payout = statement["session_payout_units"]
                assert payout > 0
                assert statement["share_units"] == payout  # Bob never consented: no flexibility
                assert bob[0]["share_units"] == 0 and bob[0]["delivered_wh"] == 0
                # Bob gave no consent to itemised statements: his keeps only the totals
                assert bob[0]["itemised"] is False and "isps" not in bob[0]
                assert statement["itemised"] is True
                assert statement["delivered_wh"] > 0 and statement["payout_tx"].startswith("0x")
                page.reload()
                page.fill("#user-id", "alice")
                page.fill("#token", tokens["alice"])
                page.click("#sign-in")
                expect(page.locator("#status")).to_have_text("Signed in as alice.")
                units = f"{payout // 10**6}.{payout % 10**6:06d}".rstrip("0")
                units = units + "0" * (2 - len(units.split(".")[1]))
                article = page.locator("#statements article")
                expect(article).to_contain_text(f"You earned {units} EUR")
                expect(article).to_contain_text(f"delivered {statement['delivered_wh']} Wh")
                expect(article).to_contain_text(statement["payout_tx"])
                expect(article).to_contain_text(statement["delivery_root"])
                expect(article).to_contain_text("Share rule:")
                rows = article.locator("table").first.locator("tbody tr")
                expect(rows).to_have_count(len(statement["isps"]))
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)

                # ---- withdrawing bidding consent opts out of every campaign -----------------
                page.uncheck("#consent-flexibility_bidding")
                page.click("#save-consent")
                expect(page.locator("#consent-state-flexibility_bidding")).to_contain_text(
                    "consent withdrawn at"
                )
                expect(page.locator("#consent-state-revenue_statements")).to_contain_text(
                    "consent given at"
                )
                expect(page.locator(f"#campaign-{sid}")).not_to_be_checked()
                context.close()
                browser.close()
            assert not problems, f"browser console errors: {problems}"
            assert not outside, f"requests to other hosts: {outside}"

            # ---- Alice asks for erasure: her data leaves the gateway, the audit still passes
            market_address = chain.contracts.market.address
            before = run_audit(rpc=chain.node.rpc_url, market=market_address, bundles=m.url)
            assert before.exit_code == 0, before.to_json()
            gw.stop()
            erased = _erase(config, "alice")
            assert erased["already_erased"] is False and erased["removed"]["tokens"] == 1
            assert erased["pseudonymised"]["statements"] == 1
            engine = sa.create_engine(f"sqlite:///{tmp_path}/gateway.db")
            assert erased["still_named_in"] == [] and rows_naming(engine, "alice") == []
            (kept,) = GatewayStore(engine).statements_of(erased["pseudonym"])
            assert kept["share_units"] == payout and kept["itemised"] is False
            engine.dispose()
            assert not (tmp_path / "statements" / "alice").exists()
            # the market never had her id: no published bundle names an EV user
            for bundle in (tmp_path / "bundles").rglob("*.json"):
                text = bundle.read_text()
                assert "alice" not in text and "bob" not in text, bundle
            after = run_audit(rpc=chain.node.rpc_url, market=market_address, bundles=m.url)
            assert after.exit_code == 0, after.to_json()
            assert _erase(config, "alice")["already_erased"] is True
        finally:
            gw.stop()
