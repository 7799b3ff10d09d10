"""The EV-user page's claim (issue 19): a user without a wallet gets their claim code once on
the page, sees the claim address and what it holds on-chain, and a redemption refusal is shown
plainly. Real chromium (Playwright), the gateway's API on a loopback socket, real anvil for
the claim's on-chain credit; the redemption itself is tested through the API in
tests/integration/market/settlement/test_ev_claims.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from market_helpers import served

from market.fsp.claims import ClaimDesk
from market.fsp.ev_api import gateway_app
from market.fsp.store import GatewayStore
from market.participant.claim import claim_account
from market.participant.onchain import ChainAccount

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_user_without_a_wallet_gets_the_code_once_and_sees_the_claim(
    chain: Any, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    store = GatewayStore(f"sqlite:///{tmp_path}/gateway.db")
    relayer = ChainAccount(chain.contracts.market, chain.contracts.token, chain.addresses["fsp_a"])
    # the page as a gateway wired to sign the user's contract at issue shows it (the signing
    # itself is in test_ev_claims.py; without a signer issuing is 501, test_ev_claim_issue.py)
    desk = ClaimDesk(store.engine, store.now, relayer, on_issue=lambda _user, _account: None)
    app = gateway_app(store, {"ana"}, lambda: {}, claims=desk)
    token = store.issue_token("ana")
    problems: list[str] = []
    with served(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

        def sign_in() -> None:
            page.goto(base + "/ev-user")
            page.fill("#user-id", "ana")
            page.fill("#token", token)
            page.press("#token", "Enter")
            expect(page.locator("#status")).to_have_text("Signed in as ana.")

        sign_in()
        expect(page.locator("#claim")).to_contain_text("You have no wallet")
        page.click("#get-claim")
        code = page.locator("#claim-new-code").inner_text()
        address = page.locator("#claim-address").inner_text()
        assert claim_account(code).address.lower() == address
        expect(page.locator("#claim")).to_contain_text("shown only this once")
        expect(page.locator("#claim-held")).to_have_text("0.00 EUR")
        expect(page.locator("#get-claim")).to_be_hidden()

        # nothing is netted to it yet: the redemption refusal is shown, naming why
        page.fill("#claim-code", code)
        page.fill("#claim-to", "0x" + "12" * 20)
        page.click("#redeem")
        expect(page.locator("#claim-state")).to_contain_text("nothing to claim")

        # signed in again, the code is gone for good: only the address is shown
        page.click("#sign-out")
        assert code not in page.content()
        sign_in()
        expect(page.locator("#claim-address")).to_have_text(address)
        assert page.locator("#claim-new-code").count() == 0
        assert code not in page.content()
        browser.close()
    assert problems == []
