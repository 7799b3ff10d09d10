"""Malformed auditor inputs end in JSON with a named error (or finding), never a traceback.

One test per input file of ``flexmarket audit``: the terms, input, result and delivery bundles, the
station registry (``stations.json`` and ``--station-keys``), ``--receipts`` and the bundle
service's session list. Each runs the real CLI in-process and asserts the JSON report, the exit
code (2 when nothing could be checked, 1 otherwise) and that nothing reached stderr.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import Route, stage
from typer.testing import CliRunner

from market.audit.staging import StagedSession
from market.cli import app as cli_app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def cli_audit(chain: Any, bundles: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """``flexmarket audit --json``: exit code and report; stderr empty, no exception escaped."""
    common = ["audit", "--rpc", chain.node.rpc_url, "--market", chain.contracts.market.address]
    done = CliRunner().invoke(cli_app, [*common, "--bundles", bundles, *extra, "--json"])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert "Traceback" not in done.stderr and not done.stderr.strip(), done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["exit_code"] == done.exit_code
    return done.exit_code, report


def all_codes(report: dict[str, Any]) -> set[str]:
    """Finding and error codes anywhere in a JSON report."""
    checks = [c for s in report["sessions"] for c in s["checks"]] + report["market_checks"]
    return {x["code"] for c in checks for x in c["findings"] + c["errors"]}


@pytest.fixture
def staged(chain: Any, tmp_path: Path) -> StagedSession:
    folder = tmp_path / "bundles"
    folder.mkdir()
    return stage(chain, Route(name="dir", folder=folder, bundles=str(folder)))


def _top(value: Any) -> Callable[[bytes], bytes]:
    return lambda raw: json.dumps(value).encode()


def _field(key: str, value: Any) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        data = json.loads(raw)
        data[key] = value
        return json.dumps(data).encode()

    return change


TRUNCATED: Callable[[bytes], bytes] = lambda raw: raw[: len(raw) // 2]  # noqa: E731

BUNDLE_CASES = {
    "truncated": TRUNCATED,
    "unknown shape": _top(["not", "a", "bundle"]),
    "wrong type": _field("session_id", 42),
}


@pytest.mark.parametrize("case", list(BUNDLE_CASES))
@pytest.mark.parametrize("kind", ["terms", "input", "result", "delivery"])
def test_malformed_bundle_is_a_named_finding(
    chain: Any, staged: StagedSession, kind: str, case: str
) -> None:
    path = staged.path(kind)
    path.write_bytes(BUNDLE_CASES[case](path.read_bytes()))
    code, report = cli_audit(chain, str(staged.folder))
    assert code == 1, report["message"]
    assert "bundle.unparseable" in all_codes(report)
    assert report["sessions"][0]["result"] == "fail"


def test_delivery_bundle_with_wrong_types_inside_is_named(
    chain: Any, staged: StagedSession
) -> None:
    path = staged.path("delivery")
    data = json.loads(path.read_bytes())
    data["inputs"]["readings"] = "all of them"
    data["report"]["findings"] = 7
    path.write_bytes(json.dumps(data).encode())
    code, report = cli_audit(chain, str(staged.folder))
    assert code == 1
    assert "delivery.inputs_invalid" in all_codes(report)


def test_delivery_bundle_fields_outside_the_report_are_checked(
    chain: Any, staged: StagedSession
) -> None:
    path = staged.path("delivery")
    data = json.loads(path.read_bytes())
    data["findings"] = [{"code": "fabricated"}]  # not what the report discloses
    path.write_bytes(json.dumps(data).encode())
    code, report = cli_audit(chain, str(staged.folder))
    assert code == 1
    assert all_codes(report) == {"delivery.bundle_differs"}


@pytest.mark.parametrize(
    "content, code, expected",
    [
        (b'[{"station_id": "ST-1", "meter_public_key"', 2, "registry.unreadable"),  # truncated
        (b'"a string"', 2, "registry.unreadable"),  # unknown shape
        (b'[{"station_id": 7, "meter_public_key": []}]', 1, "registry.entry_invalid"),
    ],
    ids=["truncated", "unknown-shape", "wrong-types"],
)
def test_malformed_station_registry_is_an_error(
    chain: Any, staged: StagedSession, content: bytes, code: int, expected: str
) -> None:
    (staged.folder / "stations.json").write_bytes(content)
    exit_code, report = cli_audit(chain, str(staged.folder))
    assert exit_code == code, report["message"]
    assert expected in all_codes(report)


def test_a_second_key_for_a_used_station_is_named_where_used(
    chain: Any, staged: StagedSession
) -> None:
    path = staged.folder / "stations.json"
    assets = json.loads(path.read_bytes())
    path.write_text(json.dumps([*assets, {**assets[0], "meter_public_key": "0x" + "12" * 20}]))
    code, report = cli_audit(chain, str(staged.folder))
    assert code == 1, report["message"]
    delivery = next(c for c in report["sessions"][0]["checks"] if c["name"] == "delivery")
    conflicts = [f for f in delivery["findings"] if f["code"] == "registry.station_key_conflict"]
    assert [f["subject"] for f in conflicts] == [assets[0]["station_id"]]


def test_a_registry_without_owners_does_not_silently_skip_the_owner_check(
    chain: Any, staged: StagedSession
) -> None:
    path = staged.folder / "stations.json"
    assets = json.loads(path.read_bytes())
    path.write_text(json.dumps({a["station_id"]: a["meter_public_key"] for a in assets}))
    code, report = cli_audit(chain, str(staged.folder))
    assert code == 2, report["message"]  # the object form is refused: one strict format
    assert all_codes(report) == {"registry.unreadable"}
    assert "names no owners" in report["message"]


def test_malformed_station_keys_file_is_an_error(
    chain: Any, staged: StagedSession, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    keys.write_bytes(b"{not json")
    code, report = cli_audit(chain, str(staged.folder), "--station-keys", str(keys))
    assert code == 2
    assert "registry.unreadable" in all_codes(report)
    assert "--station-keys" in report["message"]


def _receipts(staged: StagedSession, tmp_path: Path, change: Callable[[Any], Any]) -> str:
    fsp = sorted(staged.offers_by_fsp)[0]
    path = tmp_path / "receipts.json"
    path.write_text(json.dumps(change(staged.receipts(fsp))))
    return str(path)


def test_truncated_receipts_file_is_an_error_the_session_still_checked(
    chain: Any, staged: StagedSession, tmp_path: Path
) -> None:
    path = tmp_path / "receipts.json"
    path.write_text(json.dumps(staged.receipts(sorted(staged.offers_by_fsp)[0]))[:100])
    code, report = cli_audit(chain, str(staged.folder), "--receipts", str(path))
    assert code == 1, report["message"]
    assert all_codes(report) == {"receipts.unreadable"}
    assert report["sessions"][0]["result"] == "pass"


def test_receipts_with_wrong_types_are_an_error_of_their_session(
    chain: Any, staged: StagedSession, tmp_path: Path
) -> None:
    def change(data: Any) -> Any:
        data["receipts"][0]["proof"] = 17
        return data

    code, report = cli_audit(
        chain, str(staged.folder), "--receipts", _receipts(staged, tmp_path, change)
    )
    assert code == 2, report["message"]  # its only session could not be checked in full
    offers = next(c for c in report["sessions"][0]["checks"] if c["name"] == "offers")
    assert [e["code"] for e in offers["errors"]] == ["receipts.malformed"]


def test_receipts_for_an_unknown_session_are_reported(
    chain: Any, staged: StagedSession, tmp_path: Path
) -> None:
    other = str(uuid.uuid4())

    def change(data: Any) -> Any:
        return [data, {**data, "session_id": other}]

    code, report = cli_audit(
        chain, str(staged.folder), "--receipts", _receipts(staged, tmp_path, change)
    )
    assert code == 1, report["message"]
    inputs = next(c for c in report["market_checks"] if c["name"] == "inputs")
    assert [f["code"] for f in inputs["findings"]] == ["receipts.unknown_session"]
    assert other in inputs["findings"][0]["subject"]
    assert report["sessions"][0]["result"] == "pass"


def test_one_missing_bundle_does_not_stop_the_other_sessions(chain: Any, tmp_path: Path) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    route = Route(name="dir", folder=folder, bundles=str(folder))
    first, second = stage(chain, route), stage(chain, route)
    first.path("delivery").unlink()
    code, report = cli_audit(chain, str(folder))
    assert code == 1, report["message"]  # incomplete, not "nothing could be checked"
    by_id = {s["session_id"]: s for s in report["sessions"]}
    assert by_id[second.session_id]["result"] == "pass"
    assert by_id[first.session_id]["result"] == "error"
    assert "bundle.missing" in {e["code"] for e in by_id[first.session_id]["errors"]}
    assert report["message"].startswith("INCOMPLETE")


def test_an_unsafe_bundle_is_an_error_of_its_session_only(chain: Any, tmp_path: Path) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    route = Route(name="dir", folder=folder, bundles=str(folder))
    first, second = stage(chain, route), stage(chain, route)
    first.path("result").write_bytes(b"[" * 1000 + b"]" * 1000)
    code, report = cli_audit(chain, str(folder))
    assert code == 1, report["message"]
    by_id = {s["session_id"]: s for s in report["sessions"]}
    assert "bundle.unsafe" in {e["code"] for e in by_id[first.session_id]["errors"]}
    assert by_id[second.session_id]["result"] == "pass"


class _BadSessionList(http.server.BaseHTTPRequestHandler):
    """Serves a bundle folder like the market service, but a broken ``GET /sessions``."""

    folder: Path = Path()
    sessions_body: bytes = b""

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts == ["sessions"]:
            body = self.sessions_body
        elif parts == ["assets"]:
            body = (self.folder / "stations.json").read_bytes()
        elif len(parts) == 4 and parts[2] == "bundles":
            path = self.folder / parts[1] / f"{parts[3]}.json"
            if not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bad_session_list(staged: StagedSession) -> Iterator[str]:
    handler = type(
        "Handler", (_BadSessionList,), {"folder": staged.folder, "sessions_body": b'[{"id": '}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_malformed_session_list_is_an_error(
    chain: Any, staged: StagedSession, bad_session_list: str
) -> None:
    code, report = cli_audit(chain, bad_session_list)
    assert code == 2, report["message"]  # no session can be matched to its bundles
    assert {"sessions.unreadable", "bundle.missing"} <= all_codes(report)
    # naming the session lets the audit go on; the broken list stays reported
    code, report = cli_audit(chain, bad_session_list, "--session", staged.session_id)
    assert code == 1, report["message"]
    assert report["sessions"][0]["result"] == "pass"
    assert all_codes(report) == {"sessions.unreadable"}
