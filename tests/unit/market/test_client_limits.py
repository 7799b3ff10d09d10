"""``MarketClient`` reading answers from a hostile server: named errors, never a crash.

The client runs in a child process (a segfault fails the test instead of killing pytest)
against a real HTTP server in this process that answers whatever the test tells it to.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

NESTED = b"[" * 100_000 + b"]" * 100_000


class Hostile(http.server.BaseHTTPRequestHandler):
    """``/nested``: 100 000 deep; ``/huge``: declares 1 GiB; ``/problem``: a deep 400."""

    def do_GET(self) -> None:
        if self.path.startswith("/huge"):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(1 << 30))
            self.end_headers()
            self.wfile.write(b"[" * 1024)  # then hangs up: the client must not wait for 1 GiB
            return
        status = 400 if self.path.startswith("/problem") else 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(NESTED)))
        self.end_headers()
        self.wfile.write(NESTED)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hostile_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _client_call(base: str, call: str) -> str:
    """Run ``call`` on a MarketClient in a child process; return what it printed."""
    code = textwrap.dedent(
        f"""
        from market.client import MarketClient, UnsafeAnswer
        client = MarketClient({base!r})
        try:
            {call}
            print("no error")
        except UnsafeAnswer as exc:
            print(type(exc).__name__, exc.reason, exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"client process died ({out.returncode}): {out.stderr[-2000:]}"
    return out.stdout.strip()


def test_a_deeply_nested_answer_is_a_named_error(hostile_url: str) -> None:
    out = _client_call(hostile_url, "client._get('/nested')")
    assert out.startswith("UnsafeAnswer too_deep GET /nested: JSON nested 100000 levels")


def test_a_deeply_nested_problem_answer_is_a_named_error(hostile_url: str) -> None:
    out = _client_call(hostile_url, "client._get('/problem')")
    assert out.startswith("UnsafeAnswer too_deep GET /problem: JSON nested"), out


def test_an_answer_declaring_1_gib_is_refused_before_reading(hostile_url: str) -> None:
    out = _client_call(hostile_url, "client._get('/huge')")
    assert out.startswith("UnsafeAnswer too_large GET /huge: answer of 1073741824 bytes"), out


def test_a_normal_answer_still_parses() -> None:
    import httpx

    from market.client import _json  # the same parsing path, on a plain answer

    response = httpx.Response(200, json={"ok": [1, 2]}, request=httpx.Request("GET", "http://x/"))
    assert _json(response) == {"ok": [1, 2]}
