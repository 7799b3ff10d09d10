"""Issue 17 item 3: security profiles 1-3, each with the right and the wrong credentials.

Profile 1: Basic against scrypt records; 2: the same over TLS; 3: mutual TLS, CN = station id.
The certificates are made here (``tls_testkit``). A refused station never reaches OCPP: 401
at the HTTP handshake, or no TLS session at all.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import ChargePoint
from ocpp.v201 import call as call201
from tls_testkit import TestCa, needs_openssl
from typer.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from adapters.clock import SystemClock
from adapters.ocpp.credentials import IN_MEMORY_COST, PasswordRecord, StationCredentials
from adapters.ocpp.csms import Csms
from adapters.ocpp.tls import server_context
from market.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60), needs_openssl]

PW = "profile-pw-1"
REFUSED_TLS = "no TLS session"


async def _handshake(
    url: str, station: str, password: str | None, context: ssl.SSLContext | None = None
) -> int | str:
    """101 if the CSMS admits the station, else the HTTP status, or ``REFUSED_TLS``."""
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{station}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        async with connect(
            f"{url}/{station}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=context,
            proxy=None,
            open_timeout=10,
        ) as ws:
            # TLS 1.3: a refused client certificate arrives as an alert after the handshake
            boot = ChargePoint(station, ws, response_timeout=5)
            serving = asyncio.create_task(boot.start())
            try:
                answer = await boot.call(
                    call201.BootNotification(
                        charging_station={"vendor_name": "t", "model": "m"}, reason="PowerUp"
                    )
                )
            finally:
                serving.cancel()
            assert answer.status == "Accepted"
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code
    except (ssl.SSLError, InvalidMessage, ConnectionError, EOFError, TimeoutError) as exc:
        return f"{REFUSED_TLS} ({type(exc).__name__})"
    except Exception as exc:  # ConnectionClosed after a TLS alert
        if "ConnectionClosed" in type(exc).__name__:
            return f"{REFUSED_TLS} ({type(exc).__name__})"
        raise


def _refused_tls(outcome: int | str) -> bool:
    return isinstance(outcome, str) and outcome.startswith(REFUSED_TLS)


def _records() -> StationCredentials:
    return StationCredentials({"SP-1": PasswordRecord.create(PW, IN_MEMORY_COST)})


async def test_profile_1_right_and_wrong_passwords() -> None:
    csms = Csms(credentials=_records(), clock=SystemClock(), security_profile=1)
    async with csms:
        assert csms.url.startswith("ws://")
        assert await _handshake(csms.url, "SP-1", PW) == 101
        assert await _handshake(csms.url, "SP-1", "wrong") == 401
        assert await _handshake(csms.url, "NOBODY", PW) == 401
        assert await _handshake(csms.url, "SP-1", None) == 401
        assert csms.status()["failed_logins"] == 3


async def test_concurrent_guesses_do_not_outrun_the_throttle() -> None:
    csms = Csms(credentials=_records(), clock=SystemClock())
    async with csms:
        guesses = [_handshake(csms.url, "SP-1", f"guess-{i}") for i in range(12)]
        codes = await asyncio.gather(*guesses)
        assert sorted(codes, key=str) == [401] * 3 + [429] * 9  # three free tries, no more
        assert csms.status()["failed_logins"] == 3


async def test_profile_2_tls_and_basic(tmp_path: Path) -> None:
    ca = TestCa(tmp_path)
    server = ca.issue("localhost", server=True)
    csms = Csms(
        credentials=_records(),
        clock=SystemClock(),
        ssl_context=server_context(2, server.cert, server.key),
        security_profile=2,
    )
    async with csms:
        assert csms.url.startswith("wss://")
        assert await _handshake(csms.url, "SP-1", PW, ca.client_context()) == 101
        assert await _handshake(csms.url, "SP-1", "wrong", ca.client_context()) == 401
        assert await _handshake(csms.url, "NOBODY", PW, ca.client_context()) == 401
        plain = csms.url.replace("wss://", "ws://")
        assert await _handshake(plain, "SP-1", PW) != 101  # no plain-text fallback


async def test_profile_3_client_certificate_names_the_station(tmp_path: Path) -> None:
    ca = TestCa(tmp_path)
    rogue = TestCa(tmp_path, "rogue-ca")
    server = ca.issue("localhost", server=True)
    context = server_context(3, server.cert, server.key, ca.pem.cert)
    csms = Csms(clock=SystemClock(), ssl_context=context, security_profile=3)
    async with csms:
        good = ca.client_context(ca.issue("SP-3"))
        assert await _handshake(csms.url, "SP-3", None, good) == 101
        # another station's (valid) certificate does not speak for SP-3
        other = ca.client_context(ca.issue("SP-4"))
        assert await _handshake(csms.url, "SP-3", None, other) == 401
        # no certificate, or one from a CA the CSMS does not trust: no TLS session
        assert _refused_tls(await _handshake(csms.url, "SP-3", None, ca.client_context()))
        forged = ca.client_context(rogue.issue("SP-3"))
        assert _refused_tls(await _handshake(csms.url, "SP-3", None, forged))
        assert csms.status()["failed_logins"] == 1


async def test_profile_3_with_credentials_admits_only_listed_stations(tmp_path: Path) -> None:
    ca = TestCa(tmp_path)
    server = ca.issue("localhost", server=True)
    context = server_context(3, server.cert, server.key, ca.pem.cert)
    csms = Csms(credentials=_records(), clock=SystemClock(), ssl_context=context)
    assert csms.security_profile == 3  # inferred from a context that requires client certs
    async with csms:
        assert await _handshake(csms.url, "SP-1", None, ca.client_context(ca.issue("SP-1"))) == 101
        unlisted = ca.client_context(ca.issue("SP-9"))
        assert await _handshake(csms.url, "SP-9", None, unlisted) == 401


def test_profile_mismatches_are_refused(tmp_path: Path) -> None:
    ca = TestCa(tmp_path)
    server = ca.issue("localhost", server=True)
    with pytest.raises(ValueError, match="needs a TLS context"):
        Csms(credentials=_records(), security_profile=2)
    with pytest.raises(ValueError, match="requires client certificates"):
        Csms(ssl_context=server_context(2, server.cert, server.key), security_profile=3)
    with pytest.raises(ValueError, match="needs station passwords"):
        Csms(security_profile=1)


def test_cli_profiles_need_their_files(tmp_path: Path) -> None:
    runner = CliRunner()
    creds = tmp_path / "stations.json"
    result = runner.invoke(app, ["csms", "passwd", "SP-1", "--credentials", str(creds)], input=PW)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["csms", "--security-profile", "2", "--credentials", str(creds)])
    assert result.exit_code == 2 and "--tls-cert" in result.output
    ca = TestCa(tmp_path)
    server = ca.issue("localhost", server=True)
    result = runner.invoke(app, ["csms", "--security-profile", "3", "--tls-cert",
                                 str(server.cert), "--tls-key", str(server.key)])  # fmt: skip
    assert result.exit_code == 2 and "--tls-ca" in result.output


def test_passwd_writes_salted_scrypt_records_0600(tmp_path: Path) -> None:
    runner = CliRunner()
    creds = tmp_path / "stations.json"
    for station in ("A-1", "B-2"):
        result = runner.invoke(app, ["csms", "passwd", station, "--credentials", str(creds)],
                               input=f"{PW}\n")  # fmt: skip
        assert result.exit_code == 0, result.output
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    raw: Any = json.loads(creds.read_text())
    a, b = raw["stations"]["A-1"], raw["stations"]["B-2"]
    assert a["algorithm"] == "scrypt" and a["n"] >= 2**14
    assert a["salt_b64"] != b["salt_b64"] and a["hash_b64"] != b["hash_b64"]  # same password
    assert PW not in creds.read_text()
    store = StationCredentials.load(creds)
    assert store.check("A-1", PW) and not store.check("A-1", "wrong")
    assert not store.check("NOBODY", PW)
    result = runner.invoke(app, ["csms", "passwd", "bad:id", "--credentials", str(creds)], input=PW)
    assert result.exit_code == 2


def test_yaml_credentials_and_broken_records(tmp_path: Path) -> None:
    path = tmp_path / "stations.yaml"
    StationCredentials({"Y-1": PasswordRecord.create(PW, IN_MEMORY_COST)}).save(path)
    assert StationCredentials.load(path).check("Y-1", PW)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"stations": {"X": {"salt_b64": "AA==", "hash_b64": "AA=="}}}))
    with pytest.raises(ValueError, match=r"stations\.X: missing"):
        StationCredentials.load(broken)
