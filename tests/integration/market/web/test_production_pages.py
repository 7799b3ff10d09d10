"""In production mode the pages hold no key: no development-key field, no development accounts,
no request for them; signing needs an EIP-1193 browser wallet (none in this browser, so its
button is disabled and the write forms refuse with a plain message)."""

from __future__ import annotations

from pathlib import Path

import pytest
from market_helpers import client_for, make_worker, open_session, setup_market

from market.api.schemas import ParticipantCreate
from market.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The market in production mode (on the test chain: the mode alone decides)."""
    return Settings(
        mode="production",
        database_url=db_url,
        bundle_dir=tmp_path / "bundles",
        role_cache_ttl_s=0.0,
        token_secret="p" * 64,
    )


def test_production_pages_serve_no_key_and_need_a_browser_wallet(
    live_web, chain, runtime, server
) -> None:
    op = client_for(server, chain, "operator", runtime)
    setup_market(op)
    client_for(server, chain, "fsp_a", runtime).register_participant(ParticipantCreate(name="A"))
    s = open_session(op, int(runtime.core.clock.now()))
    make_worker(runtime).run_once()
    asked = []
    page = live_web.page
    page.on("request", lambda r: asked.append(r.url))
    for path in (f"/dso?session={s.session_id}", f"/fsp?session={s.session_id}"):
        live_web.open(path)
        page.wait_for_selector("#status.ok")
        assert page.locator("#dev-key").is_hidden()
        assert page.locator("#sign-in-key").is_hidden()
        assert page.locator("#dev-accounts").is_hidden()
        assert page.locator("#sign-in-wallet").is_disabled()  # no window.ethereum here
    assert not [u for u in asked if "/dev-wallet" in u or "/dev/rpc" in u]

    live_web.open(f"/dso?session={s.session_id}")
    page.wait_for_selector("#status.ok")
    page.click("#req-submit")
    page.wait_for_selector("#req-status.bad")
    assert "Sign in first" in page.locator("#req-status").inner_text()
    assert op.requests(s.session_id) == []
    live_web.assert_clean()
