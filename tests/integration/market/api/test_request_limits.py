"""``flexmarket serve`` as a real process refuses what could take it down, and stays up.

The server runs in a subprocess, so a crash (a segfault on deep JSON) fails the test instead
of killing pytest.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[4]
NESTED = b"[" * 100_000 + b"]" * 100_000  # issue 14: ~200 KB, 100 000 deep
TWELVE_MB = 12 * 1024 * 1024
HEAD_TIMEOUT_S = 1.0


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port
        self.base = f"http://127.0.0.1:{port}"

    def alive_and_healthy(self) -> float:
        """Seconds /health took; fails if the process died."""
        assert self.proc.poll() is None, "the server process died"
        t0 = time.monotonic()
        assert httpx.get(f"{self.base}/health", timeout=5).status_code == 200
        return time.monotonic() - t0


@pytest.fixture(scope="module")
def server(market_chain, tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("limits")
    deployment = market_chain.contracts.deployment.save(tmp / "deployment.json")
    port = free_port()
    env = {
        **os.environ,
        "FLEXMARKET_DATABASE_URL": f"sqlite:///{tmp / 'market.db'}",
        "FLEXMARKET_RPC_URL": market_chain.node.rpc_url,
        "FLEXMARKET_DEPLOYMENT_FILE": str(deployment),
        "FLEXMARKET_BUNDLE_DIR": str(tmp / "bundles"),
        "FLEXMARKET_REQUEST_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "market.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    srv = Server(proc, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                srv.alive_and_healthy()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield srv
    finally:
        from adapters.chain.anvil import kill_process_group

        kill_process_group(proc.pid, wait=proc.wait)


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/" + slug)
    assert body["status"] == status
    return body


def test_nested_json_body_gets_400_and_the_server_stays_up(server: Server) -> None:
    for path in ("/offers", "/auth/siwe", "/sessions"):
        response = httpx.post(
            server.base + path,
            content=NESTED,
            headers={"content-type": "application/json"},
            timeout=10,
        )
        body = _problem(response, 400, "json-too-deep")
        assert "100000 levels" in str(body["detail"])
        assert body["field"] == "body"
    # no content type at all: FastAPI would still parse it as JSON
    response = httpx.post(server.base + "/offers", content=NESTED, timeout=10)
    _problem(response, 400, "json-too-deep")
    server.alive_and_healthy()


def _write_routes(server: Server) -> list[tuple[str, str]]:
    """Every (method, path) of the served OpenAPI that takes a body, path parameters filled."""
    spec = httpx.get(server.base + "/openapi.json", timeout=10).json()
    routes = []
    for path, ops in spec["paths"].items():
        for method in ("post", "put", "patch"):
            if method in ops:
                routes.append((method.upper(), re.sub(r"\{[^}]+\}", "s-1", path)))
    return routes


def test_every_write_route_refuses_deep_and_oversized_bodies(server: Server) -> None:
    """Not only the three routes above: each route the service serves (the commitment relay,
    the commitment hashes, statements, anything added later) gets the same two refusals."""
    routes = _write_routes(server)
    assert len(routes) >= 10, routes
    oversized = b"0" * (TWELVE_MB + 1)
    for method, path in routes:
        deep = httpx.request(
            method,
            server.base + path,
            content=NESTED,
            headers={"content-type": "application/json"},
            timeout=10,
        )
        _problem(deep, 400, "json-too-deep")
        big = httpx.request(method, server.base + path, content=oversized, timeout=30)
        assert big.status_code == 413, (method, path, big.status_code)
    server.alive_and_healthy()


def _raw_request(port: int, head: bytes, body_chunks: Iterator[bytes]) -> bytes:
    """Send a request over a raw socket (the body may be cut off); return what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
        return answer


def _health_while(server: Server, work: threading.Thread) -> list[float]:
    """Time /health while `work` runs, and once after it: the server may refuse at once."""
    timings = []
    work.start()
    while True:
        running = work.is_alive()
        timings.append(server.alive_and_healthy())
        if not running:
            break
        time.sleep(0.05)
    work.join()
    return timings


def test_a_12_mb_body_declared_by_content_length_gets_413_and_health_answers(
    server: Server,
) -> None:
    out: dict[str, bytes] = {}
    head = (
        b"POST /offers HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {TWELVE_MB}\r\n\r\n".encode()
    )

    def upload() -> None:
        chunks = (b"[" * 65536 for _ in range(TWELVE_MB // 65536))
        out["answer"] = _raw_request(server.port, head, chunks)

    timings = _health_while(server, threading.Thread(target=upload))
    assert out["answer"].startswith(b"HTTP/1.1 413 "), out["answer"][:200]
    assert b"body-too-large" in out["answer"]
    assert b"the limit is 8388608 bytes" in out["answer"]
    assert timings and max(timings) < 1.0


def test_a_12_mb_chunked_body_is_refused_while_streaming(server: Server) -> None:
    out: dict[str, bytes] = {}
    head = (
        b"POST /offers HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    piece = b" " * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    def upload() -> None:
        out["answer"] = _raw_request(
            server.port, head, (chunk for _ in range(TWELVE_MB // len(piece)))
        )

    timings = _health_while(server, threading.Thread(target=upload))
    assert out["answer"].startswith(b"HTTP/1.1 413 "), out["answer"][:200]
    assert b"streamed" in out["answer"]
    assert timings and max(timings) < 1.0
    server.alive_and_healthy()


def test_oversized_request_head_gets_431(server: Server) -> None:
    response = httpx.get(server.base + "/health", headers={"x-junk": "a" * 64 * 1024}, timeout=10)
    _problem(response, 431, "headers-too-large")
    server.alive_and_healthy()


def test_a_slow_incomplete_head_is_cut_off(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
        t0 = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, nothing answered
        assert time.monotonic() - t0 < HEAD_TIMEOUT_S + 2
    server.alive_and_healthy()


def test_a_body_under_the_limit_still_reaches_validation(server: Server) -> None:
    response = httpx.post(server.base + "/offers", json={"not": "an envelope"}, timeout=10)
    _problem(response, 422, "validation-error")
