"""A served market over a finished day, and a headless Chromium that fails on anything unclean.

``finished_market`` (session): the UC5 scenario replayed (with ``--netting``) on an anvil this
fixture owns, so the chain outlives the replay; then the market API (with its pages) serves the
replay's store and bundles on a loopback socket, connected to that chain (as ``replay --serve``).

``web`` (function): a Playwright page in Debian's chromium. Every request to another host than
the service is aborted and recorded; console errors and uncaught page errors are recorded;
the test fails on either (checked by ``web.assert_clean()`` and again at teardown).

``live_web`` (function): the same on a live market (``server`` over ``runtime`` and ``chain``
from tests/integration/market/conftest.py), for the journeys that write from the pages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[4]
SCENARIO = REPO / "scripts" / "scenarios" / "uc5-terni-microgrid.yaml"
SCREENSHOTS = REPO / "reports" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class FinishedMarket:
    base_url: str
    folder: Path  # the replay's report folder (store, bundles, report.json)
    report: dict[str, Any]
    session_id: str  # the replayed session's UUID
    rpc_url: str


@pytest.fixture(scope="session")
def finished_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FinishedMarket]:
    from market.replay.api_server import serve_market_api
    from market.replay.grid import check_scenario
    from market.replay.runner import ReplayOptions, run_replay
    from market.replay.serve import finished_runtime, start_anvil

    folder = tmp_path_factory.mktemp("web-uc5")
    scenario, _ = check_scenario(SCENARIO)
    anvil = start_anvil(scenario, folder)  # the chain outlives the replay, as with --serve
    try:
        options = ReplayOptions(report_dir=folder, rpc_url=anvil.rpc_url, netting=True)
        report = run_replay(SCENARIO, options)  # netted: the clearing house has statements
        runtime = finished_runtime(folder, report, anvil.rpc_url)
        with serve_market_api(runtime) as base_url:
            (session,) = report["sessions"].values()
            yield FinishedMarket(
                base_url=base_url,
                folder=folder,
                report=report,
                session_id=session["session_id"],
                rpc_url=anvil.rpc_url,
            )
        runtime.engine.dispose()
    finally:
        anvil.stop()


@pytest.fixture(scope="module")
def browser(finished_market: FinishedMarket) -> Iterator[Any]:
    """Chromium via Playwright; after the replay, whose asyncio.run cannot share Playwright's
    running event loop. Per module: while Playwright runs, its event loop is the main thread's
    running loop, so it must stop before any later asyncio test of the session runs."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@dataclass
class Web:
    page: Any
    base_url: str
    problems: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base_url + path)
        assert response is not None and response.ok, (path, response and response.status)
        return response

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        assert not self.problems, f"browser console errors: {self.problems}"
        assert not self.outside, f"requests to other hosts: {self.outside}"


@contextmanager
def clean_page(browser: Any, base_url: str, local_root: Path | None = None) -> Iterator[Web]:
    """A fresh context and page on ``base_url`` that records console errors and aborts (and
    records) every request to another host; asserted clean when the block ends."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    web = Web(page, base_url)
    own = urlsplit(base_url).netloc

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            web.problems.append(f"console: {msg.text} at {msg.location}")

    def guard(route: Any) -> None:
        url = urlsplit(route.request.url)
        local = local_root is not None and url.path.startswith(str(local_root))
        if url.netloc == own or (url.scheme == "file" and local):
            route.continue_()
        else:
            web.outside.append(route.request.url)
            route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: web.problems.append(f"page error: {exc}"))
    context.route("**/*", guard)
    try:
        yield web
    finally:
        context.close()
    web.assert_clean()


@pytest.fixture
def web(browser: Any, finished_market: FinishedMarket) -> Iterator[Web]:
    # report.html of the replay opens from disk
    with clean_page(browser, finished_market.base_url, finished_market.folder) as web:
        yield web


@pytest.fixture
def live_web(browser: Any, server: str) -> Iterator[Web]:
    """A page on a live market (the ``server`` fixture: uvicorn over ``runtime`` on ``chain``),
    for journeys that write: its sessions are open, the test drives the worker and the chain."""
    with clean_page(browser, server) as web:
        yield web
