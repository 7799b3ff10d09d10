"""The auditor reading bundles from a server (or folder) it does not trust: named errors.

The sources run in a child process (a segfault fails the test instead of killing pytest)
against a real HTTP server in this process.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

NESTED = b"[" * 100_000 + b"]" * 100_000
SESSION = str(uuid.UUID(int=7))


class HostileBundles(http.server.BaseHTTPRequestHandler):
    """``/sessions`` and ``/assets``: 100 000 deep; bundles: deep, or an endless stream."""

    def do_GET(self) -> None:
        if self.path.endswith("/bundles/delivery"):  # chunked, no length, never ends
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            chunk = b"[" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(NESTED)))
        self.end_headers()
        self.wfile.write(NESTED)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hostile_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HostileBundles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _audit_source(spec: str, calls: list[str], *, limit_bytes: int | None = None) -> list[str]:
    """Run each call on ``open_source(spec)`` in one child process; one output line each."""
    lines = [
        "import market.audit.sources as sources",
        *([f"sources.MAX_BUNDLE_BYTES = {limit_bytes}"] if limit_bytes else []),
        f"src = sources.open_source({spec!r})",
    ]
    for call in calls:
        lines += [
            "try:",
            f"    {call}",
            "    print('no error')",
            "except sources.UnsafeBundle as exc:",
            "    print(type(exc).__name__, exc)",
        ]
    code = textwrap.dedent("\n".join(lines))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"auditor process died ({out.returncode}): {out.stderr[-2000:]}"
    return out.stdout.strip().splitlines()


def test_nested_answers_from_a_bundle_server_are_named_errors(hostile_url: str) -> None:
    out = _audit_source(
        hostile_url,
        ["src.session_ids()", "src.station_registry()", f"src.get({SESSION!r}, 'input')"],
    )
    assert len(out) == 3
    paths = ("/sessions", "/assets", f"/sessions/{SESSION}/bundles/input")
    for line, path in zip(out, paths, strict=True):
        assert line.startswith(f"UnsafeBundle {hostile_url}{path}: refused before parsing"), line
        assert "100000 levels" in line


def test_an_endless_bundle_stream_is_cut_off_at_the_limit(hostile_url: str) -> None:
    out = _audit_source(
        hostile_url, [f"src.get({SESSION!r}, 'delivery')"], limit_bytes=4 * 1024 * 1024
    )
    assert out == [
        f"UnsafeBundle {hostile_url}/sessions/{SESSION}/bundles/delivery: refused while "
        "reading: more than 4194304 bytes"
    ]


def test_nested_bundles_and_registry_in_a_folder_are_named_errors(tmp_path: Path) -> None:
    (tmp_path / SESSION).mkdir()
    (tmp_path / SESSION / "result.json").write_bytes(NESTED)
    (tmp_path / "stations.json").write_bytes(NESTED)
    out = _audit_source(
        str(tmp_path), [f"src.get({SESSION!r}, 'result')", "src.station_registry()"]
    )
    assert out[0].startswith(f"UnsafeBundle {tmp_path / SESSION / 'result.json'}: refused")
    assert out[1].startswith(f"UnsafeBundle {tmp_path / 'stations.json'}: refused")


def test_a_too_large_bundle_file_is_refused_before_reading(tmp_path: Path) -> None:
    (tmp_path / SESSION).mkdir()
    (tmp_path / SESSION / "input.json").write_bytes(b"[" + b"0," * 600_000 + b"0]")
    out = _audit_source(str(tmp_path), [f"src.get({SESSION!r}, 'input')"], limit_bytes=1_000_000)
    assert out == [
        f"UnsafeBundle {tmp_path / SESSION / 'input.json'}: refused before reading: "
        "1200003 bytes, more than 1000000"
    ]


def test_unsafe_bundles_are_a_reason_the_audit_cannot_run() -> None:
    from market.audit.findings import AuditCannotRun
    from market.audit.sources import UnsafeBundle, checked

    assert issubclass(UnsafeBundle, AuditCannotRun)  # `flexmarket audit` exits 2, named
    assert checked(b'{"a": [1]}', "x") == b'{"a": [1]}'
