"""Fixtures for the audit tests: the real market service serving a bundle folder over a loopback
socket (its ``GET /sessions/{id}/bundles/{kind}`` reads ``<bundle_dir>/<session>/<kind>.json``
when its own store has no such bundle), and the two routes the auditor reads bundles by."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_helpers import Route

from adapters.ports import free_port


@pytest.fixture
def served(chain, tmp_path: Path) -> Iterator[Route]:
    """The market API (SQLite store without sessions) serving ``tmp_path/served``."""
    import uvicorn

    from market.ledger import Ledger
    from market.runtime import ChainClock, build_runtime
    from market.settings import Settings

    folder = tmp_path / "served"
    folder.mkdir()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/market.db",
        bundle_dir=folder,
        role_cache_ttl_s=0.0,
        token_secret="audit-test",
    )
    ledger = Ledger(chain.client, chain.contracts.market, operator=chain.addresses["operator"])
    rt = build_runtime(settings, ledger=ledger, clock=ChainClock(ledger))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(rt.app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 15 s")
        time.sleep(0.02)
    try:
        yield Route(name="http", folder=folder, bundles=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.engine.dispose()


@pytest.fixture(params=["dir", "http"])
def route(request, tmp_path: Path) -> Route:
    """Where the auditor reads bundles: the folder itself, or the service serving it."""
    if request.param == "http":
        return request.getfixturevalue("served")
    folder = tmp_path / "bundles"
    folder.mkdir()
    return Route(name="dir", folder=folder, bundles=str(folder))
