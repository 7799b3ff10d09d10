"""``flexmarket csms`` as a real process: hostile frames, connection floods, password guessing.

The CSMS runs in a subprocess, so a crash (a segfault on a deep frame) fails the test instead
of killing pytest; every test ends by checking that a neighbour station is still served.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from adapters.ocpp.credentials import PasswordRecord, StationCredentials
from adapters.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[4]
PASSWORD = "correct horse battery staple"
NESTED = "[" * 100_000 + "]" * 100_000  # issue 14: ~200 KB, 100 000 deep
PER_IP = 6


class CsmsProcess:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"ws://127.0.0.1:{port}"

    def alive(self) -> None:
        assert self.proc.poll() is None, "the CSMS process died"

    def stop(self) -> tuple[dict[str, object], str]:
        """SIGINT, then the final status line (stdout) and the log (stderr)."""
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        line = [s for s in out.splitlines() if s.startswith('{"csms_status"')][-1]
        return json.loads(line)["csms_status"], err


@pytest.fixture(scope="module")
def credentials_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CS00000 .. CS00019, all with ``PASSWORD``, as scrypt records at the file cost."""
    path = tmp_path_factory.mktemp("csms") / "stations.json"
    StationCredentials({f"CS{i:05d}": PasswordRecord.create(PASSWORD) for i in range(20)}).save(
        path
    )
    return path


@pytest.fixture
def csms(credentials_file: Path) -> Iterator[CsmsProcess]:
    port = free_port()
    env = {**os.environ, "FLEXMARKET_CSMS_CREDENTIALS": str(credentials_file)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "market.cli", "csms", "--port", str(port),
         "--max-connections-per-ip", str(PER_IP), "--status-every-s", "3600"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    server = CsmsProcess(proc, port)
    deadline = time.monotonic() + 30
    while True:
        server.alive()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "CSMS did not start"
            time.sleep(0.1)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _auth(station: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{station}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _station(csms: CsmsProcess, station: str, password: str = PASSWORD, **kw: object):
    return connect(
        f"{csms.url}/{station}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=_auth(station, password),
        open_timeout=10,
        ping_interval=None,
        max_size=None,
        **kw,  # type: ignore[arg-type]
    )


async def _heartbeat(ws: ClientConnection, unique_id: str = "hb") -> None:
    await ws.send(json.dumps([2, unique_id, "Heartbeat", {}]))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert answer[:2] == [3, unique_id], answer


async def _status_of(csms: CsmsProcess, station: str, password: str = PASSWORD) -> int:
    """HTTP status of one login attempt (101 = accepted)."""
    try:
        async with _station(csms, station, password):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_nested_frame_gets_a_call_error_and_neighbours_stay_connected(csms) -> None:
    async def scenario() -> None:
        async with _station(csms, "CS00001") as neighbour, _station(csms, "CS00000") as ws:
            await ws.send(NESTED)
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert error[:3] == [4, "-1", "FormatViolation"]
            assert "100000 levels" in error[4]["cause"]
            await _heartbeat(ws)  # the sender is still served
            await _heartbeat(neighbour)

    asyncio.run(scenario())
    csms.alive()
    status, log = csms.stop()
    assert status["stats"]["frames_refused"] == 1  # type: ignore[index]
    assert "frame refused" in log


def test_an_oversized_frame_closes_only_that_connection(csms) -> None:
    async def scenario() -> None:
        async with _station(csms, "CS00001") as neighbour, _station(csms, "CS00000") as ws:
            data = "a" * (2 << 20)  # 2 MiB: twice the frame limit
            frame = json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": data}])
            await ws.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
            await _heartbeat(neighbour)

    asyncio.run(scenario())
    csms.alive()


def test_connections_per_address_are_capped(csms) -> None:
    async def scenario() -> None:
        open_ = [await _station(csms, f"CS{i:05d}") for i in range(PER_IP)]
        assert await _status_of(csms, "CS00010") == 503  # one address, one cap
        for ws in open_:
            await _heartbeat(ws)  # the admitted ones are unaffected
        await open_.pop().close()
        await asyncio.sleep(0.2)
        assert await _status_of(csms, "CS00010") == 101
        for ws in open_:
            await ws.close()

    asyncio.run(scenario())
    status, _ = csms.stop()
    assert status["stats"]["refused_ip_limit"] == 1  # type: ignore[index]


def _raw_handshake(port: int, station: str) -> socket.socket:
    """A station that completes the handshake, then never reads (so never closes cleanly)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    token = base64.b64encode(f"{station}:{PASSWORD}".encode()).decode()
    sock.sendall(
        (
            f"GET /{station} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: ocpp2.0.1\r\nAuthorization: Basic {token}\r\n\r\n"
        ).encode()
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    return sock


def test_connections_per_station_are_capped(csms) -> None:
    """The live connection plus its replacement; a third at the same time is refused."""
    first = _raw_handshake(csms.port, "CS00003")  # never answers the close the CSMS sends
    second = _raw_handshake(csms.port, "CS00003")  # replaces first; first lingers closing
    try:
        assert asyncio.run(_status_of(csms, "CS00003")) == 503
        assert asyncio.run(_status_of(csms, "CS00004")) == 101  # other stations unaffected
    finally:
        first.close()
        second.close()
    time.sleep(0.3)
    assert asyncio.run(_status_of(csms, "CS00003")) == 101
    status, _ = csms.stop()
    assert status["stats"]["refused_station_limit"] == 1  # type: ignore[index]


def test_brute_forcing_a_station_password_is_throttled(csms) -> None:
    async def scenario() -> list[int]:
        return [await _status_of(csms, "CS00005", f"guess-{i}") for i in range(12)]

    codes = asyncio.run(scenario())
    assert codes[:3] == [401, 401, 401]  # three free tries, then the password is not checked
    assert set(codes[3:]) == {429}
    # while throttled even the right password is refused: guessing learns nothing
    assert asyncio.run(_status_of(csms, "CS00005")) == 429
    assert asyncio.run(_status_of(csms, "CS00006")) == 101  # a neighbour is not locked out
    csms.alive()
    status, log = csms.stop()
    assert status["failed_logins"] == 3
    assert status["throttled_logins"] == 10
    assert status["failures_by_station"]["CS00005"]["failures"] == 3  # type: ignore[index]
    assert log.count("station login failed: station='CS00005'") == 3


def test_guessing_across_many_stations_throttles_the_address(csms) -> None:
    async def scenario() -> list[int]:
        return [await _status_of(csms, f"CS{i % 20:05d}", "wrong") for i in range(24)]

    codes = asyncio.run(scenario())
    assert codes.count(401) == 20  # 20 free failures per address
    assert codes[20:] == [429] * 4
    status, _ = csms.stop()
    assert status["failures_by_address"]["127.0.0.1"]["failures"] == 20  # type: ignore[index]


def test_no_default_password_outside_dev_mode(monkeypatch) -> None:
    from typer.testing import CliRunner

    from market.cli import app

    monkeypatch.delenv("FLEXMARKET_CSMS_CREDENTIALS", raising=False)
    result = CliRunner().invoke(app, ["csms", "--port", "0"])
    assert result.exit_code == 2
    assert "--credentials" in result.output
    assert "no station credentials configured" in result.output
    result = CliRunner().invoke(app, ["csms", "--dev", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "--dev listens on loopback only" in result.output
