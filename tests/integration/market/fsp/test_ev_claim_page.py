"""The EV-user page's claim (issue 19): with a revenue-share template configured, a user
without a wallet is told what a claim does, gets their claim code once on the page (the
gateway's real claim signer posts the claim's contract to a real market), sees the claim
address and what it holds on-chain, and a redemption refusal is shown plainly; without a
template the page says this gateway issues no claims and why. Real chromium (Playwright), the
gateway's API on a loopback socket, real anvil and market; the redemption itself is tested
through the API in tests/integration/market/settlement/test_ev_claims.py."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from market_helpers import served

from market.clearing_house import store as ch_store
from market.fsp.claim_contract import claim_signer
from market.fsp.claims import ClaimDesk
from market.fsp.ev_api import gateway_app
from market.fsp.store import GatewayStore
from market.participant.claim import claim_account
from market.participant.onchain import ChainAccount
from market.participant.participant import Participant
from market.participant.template import add_template_signature

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _template(chain: Any, runtime: Any) -> Any:
    """FSP A's revenue-share template, signed by a CPO and a platform (dev keys)."""
    keys = ["0x" + f"{0xB1 + i:064x}" for i in range(2)]
    cpo, platform = (Account.from_key(k).address.lower() for k in keys)
    terms: Any = {
        "template_id": str(uuid.uuid4()),
        "fsp": chain.addresses["fsp_a"].lower(),
        "cpo": cpo,
        "platform": platform,
        "user_incentive_mode": "percent",
        "user_incentive_ppm": 100_000,
        "valid_from": 0,
        "valid_until": 2**40,
    }
    domain = {
        "chain_id": runtime.ledger.chain_id,
        "verifying_contract": chain.contracts.market.address,
    }
    for key in keys:
        signed, _missing = add_template_signature(terms, key, **domain)
        terms = signed.model_dump(mode="json")
    return signed


def _need_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")


def _page(p: Any, problems: list[str]) -> tuple[Any, Any]:
    """A headless chromium page that records page errors; (browser, page)."""
    browser = p.chromium.launch(
        executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
    )
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    return browser, page


def _sign_in(page: Any, base: str, token: str) -> None:
    from playwright.sync_api import expect

    page.goto(base + "/ev-user")
    page.fill("#user-id", "ana")
    page.fill("#token", token)
    page.press("#token", "Enter")
    expect(page.locator("#status")).to_have_text("Signed in as ana.")


def test_a_user_without_a_wallet_gets_the_code_once_and_sees_the_claim(
    chain: Any, runtime: Any, clients: Any, tmp_path: Path
) -> None:
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    store = GatewayStore(f"sqlite:///{tmp_path}/gateway.db")
    fsp_a = chain.addresses["fsp_a"]
    relayer = ChainAccount(chain.contracts.market, chain.contracts.token, fsp_a)
    # the gateway as fsp run wires it with a template: the claim's contract goes to the market
    on_issue = claim_signer(
        Participant(clients("fsp_a"), relayer), chain.keys["fsp_a"], [_template(chain, runtime)],
        {}, runtime.core.clock.now, lambda _event: None,
    )  # fmt: skip
    desk = ClaimDesk(store.engine, store.now, relayer, on_issue=on_issue)
    app = gateway_app(store, {"ana"}, lambda: {}, claims=desk)
    token = store.issue_token("ana")
    problems: list[str] = []
    with served(app) as base, sync_playwright() as p:
        browser, page = _page(p, problems)
        _sign_in(page, base, token)
        expect(page.locator("#claim")).to_contain_text("You have no wallet: get a claim code")
        expect(page.locator("#claim")).to_contain_text("paid on-chain to the claim's address")
        page.click("#get-claim")
        code = page.locator("#claim-new-code").inner_text()
        address = page.locator("#claim-address").inner_text()
        assert claim_account(code).address.lower() == address
        (posted,) = ch_store.load_contracts(runtime.engine)  # what the page promised
        assert posted.contract.ev_user == address and posted.template is not None
        assert chain.contracts.market.is_netting_payee(fsp_a, address)
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
        _sign_in(page, base, token)
        expect(page.locator("#claim-address")).to_have_text(address)
        assert page.locator("#claim-new-code").count() == 0
        assert code not in page.content()
        browser.close()
    assert problems == []


@pytest.mark.parametrize("templates", ["none", "expired"])
def test_without_a_template_the_page_says_no_claims_are_issued_and_why(
    chain: Any, tmp_path: Path, templates: str
) -> None:
    """fsp run without ``netting.templates`` (no claim signer), or with templates none of
    which is valid now (``can_issue`` false, as the runner wires it)."""
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    store = GatewayStore(f"sqlite:///{tmp_path}/gateway.db")
    relayer = ChainAccount(chain.contracts.market, chain.contracts.token, chain.addresses["fsp_a"])
    if templates == "none":
        desk = ClaimDesk(store.engine, store.now, relayer, on_issue=None)
    else:
        signer = lambda _user, _key: None  # noqa: E731 (never called: nothing is issuable)
        desk = ClaimDesk(store.engine, store.now, relayer, on_issue=signer, can_issue=lambda: False)
    app = gateway_app(store, {"ana"}, lambda: {}, claims=desk)
    token = store.issue_token("ana")
    problems: list[str] = []
    with served(app) as base, sync_playwright() as p:
        browser, page = _page(p, problems)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        _sign_in(page, base, token)
        expect(page.locator("#claim")).to_contain_text("this gateway issues no claims now")
        expect(page.locator("#claim")).to_contain_text("no valid revenue-share template")
        expect(page.locator("#get-claim")).to_be_hidden()
        browser.close()
    assert problems == []
