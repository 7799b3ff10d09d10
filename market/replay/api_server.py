"""The market API on a real loopback socket, so the replay's agents use it over HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from adapters.ports import free_port
from market.replay.context import ReplayError
from market.runtime import Runtime


@contextlib.contextmanager
def serve_market_api(runtime: Runtime, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The market API on a real socket (uvicorn in a thread; loopback and a free port unless
    given); yields its base URL."""
    if port == 0:
        port = free_port(host)
    config = uvicorn.Config(
        runtime.app(), host=host, port=port, log_level="warning", access_log=False
    )
    srv = uvicorn.Server(config)
    srv.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.run, name="replay-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise ReplayError("setup: the market API did not start within 30 s")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=15)
