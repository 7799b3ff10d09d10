"""The CSMS: a WebSocket server speaking OCPP 2.1, 2.0.1 and 1.6-J to charging stations.

Security profile 1: the station id is the last URL path segment and HTTP Basic credentials
(``station_id:password``) are checked in the opening handshake, so unknown stations and
wrong passwords get HTTP 401 before any OCPP traffic. Profile 2 is the same over TLS
(pass ``ssl_context``; the URL becomes ``wss://``). The handler class is chosen by the
negotiated subprotocol (server preference 2.1 > 2.0.1 > 1.6).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import ssl
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import ocpp.messages
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from adapters.clock import Clock, SystemClock
from adapters.ocpp.dispatch import Dispatcher
from adapters.ocpp.handlers.base import CsmsHandlerMixin
from adapters.ocpp.handlers.v16 import V16Handler
from adapters.ocpp.handlers.v21 import V21Handler
from adapters.ocpp.handlers.v201 import V201Handler
from adapters.ocpp.sink import InMemorySink, MeterReading, ReadingIngestor, ReadingSink
from adapters.ocpp.validation import install_fast_validation

LOG = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
HANDLERS: dict[str, type[CsmsHandlerMixin]] = {
    "ocpp2.1": V21Handler,
    "ocpp2.0.1": V201Handler,
    "ocpp1.6": V16Handler,
}


class StationNotConnected(RuntimeError):
    """A call was made to a station that has no open connection."""


@dataclass
class EvseSession:
    """What the CSMS knows about one EVSE."""

    status: str | None = None
    transaction_id: str | int | None = None
    ev_needs: dict[str, Any] | None = None


@dataclass
class StationSession:
    """One station as seen by the CSMS, kept across reconnects."""

    station_id: str
    protocol: str | None = None
    handler: Any = None
    boot_info: dict[str, Any] | None = None
    connects: int = 0
    evses: dict[int, EvseSession] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.handler is not None

    def evse(self, evse_id: int) -> EvseSession:
        return self.evses.setdefault(evse_id, EvseSession())

    def evse_of_transaction(self, transaction_id: str | int) -> int | None:
        for evse_id, state in self.evses.items():
            if state.transaction_id == transaction_id:
                return evse_id
        return None


def _hash_password(station_id: str, password: str) -> bytes:
    return hashlib.sha256(f"{station_id}:{password}".encode()).digest()


class Csms:
    """CSMS server: ``await start()``, then ``url`` for stations, ``dispatcher`` for setpoints.

    ``credentials`` maps station id → Basic-auth password. ``sync_validation`` turns off the
    ``ocpp`` library's thread-pool schema validation (a process-wide switch) because
    validating inline is faster than hopping threads at thousands of messages per second.
    """

    def __init__(
        self,
        *,
        credentials: Mapping[str, str],
        sink: ReadingSink | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        meter_interval_s: int = 60,
        late_clock_tolerance_s: int | None = None,
        call_timeout_s: float = 10.0,
        heartbeat_interval_s: int = 300,
        ping_interval_s: float | None = None,
        subprotocols: Sequence[str] = SUBPROTOCOLS,
        sync_validation: bool = True,
        confirm_profiles: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        unknown = set(subprotocols) - set(SUBPROTOCOLS)
        if unknown:
            raise ValueError(f"subprotocols: unsupported {sorted(unknown)}")
        self.clock = clock or SystemClock()
        self.sink: ReadingSink = sink if sink is not None else InMemorySink()
        self.ingestor = ReadingIngestor(
            self.sink,
            expected_interval_s=meter_interval_s,
            late_clock_tolerance_s=late_clock_tolerance_s,
            clock=self.clock,
        )
        self.host = host
        self.port = port
        self.call_timeout_s = call_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.ping_interval_s = ping_interval_s
        self.subprotocols = tuple(subprotocols)
        self.ssl_context = ssl_context
        self._credentials = {sid: _hash_password(sid, pw) for sid, pw in credentials.items()}
        self.sessions: dict[str, StationSession] = {}
        self.stats: Counter[str] = Counter()
        self.dispatcher = Dispatcher(self, clock=self.clock, confirm=confirm_profiles)
        self._server: Server | None = None
        if sync_validation:
            ocpp.messages.ASYNC_VALIDATION = False
            install_fast_validation()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("Csms.url: server not started")
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await serve(
            self._on_connection,
            self.host,
            self.port,
            subprotocols=list(self.subprotocols),  # type: ignore[arg-type]
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            compression=None,
            ping_interval=self.ping_interval_s,
            max_size=1 << 20,
            open_timeout=60,
            server_header="flexmarket-csms",
            ssl=self.ssl_context,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        await self.dispatcher.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        close = getattr(self.sink, "close", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> Csms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def add_station(self, station_id: str, password: str) -> None:
        """Register (or re-key) a station's Basic-auth password."""
        self._credentials[station_id] = _hash_password(station_id, password)

    def session(self, station_id: str) -> StationSession:
        return self.sessions.setdefault(station_id, StationSession(station_id))

    # ------------------------------------------------------------------ handshake
    @staticmethod
    def station_id_from_path(path: str) -> str:
        segment = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return unquote(segment)

    def _authorised(self, station_id: str, header: str | None) -> bool:
        expected = self._credentials.get(station_id)
        if expected is None or not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == station_id and hmac.compare_digest(
            expected, _hash_password(station_id, password)
        )

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = self.station_id_from_path(request.path)
        if not self._authorised(station_id, request.headers.get("Authorization")):
            self.stats["auth_refused"] += 1
            response = connection.respond(401, "Unknown station or wrong password\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
            return response
        return None

    def _select_subprotocol(self, connection: ServerConnection, offered: Sequence[str]) -> Any:
        for proto in self.subprotocols:
            if proto in offered:
                return proto
        return None

    # ------------------------------------------------------------------ connections
    async def _on_connection(self, ws: ServerConnection) -> None:
        station_id = self.station_id_from_path(ws.request.path if ws.request else "")
        protocol = ws.subprotocol
        if protocol not in HANDLERS:
            await ws.close(1002, "no supported OCPP subprotocol offered")
            return
        session = self.session(station_id)
        previous = session.handler
        if previous is not None:  # a station reconnecting replaces its stale connection
            with contextlib.suppress(Exception):
                await previous._connection.close()
        handler = HANDLERS[protocol](station_id, ws, self, self.call_timeout_s)
        session.handler = handler
        session.protocol = protocol
        session.connects += 1
        self.stats["connects"] += 1
        try:
            await handler.start()  # type: ignore[attr-defined]
        except ConnectionClosed:
            pass
        finally:
            if session.handler is handler:
                session.handler = None

    async def on_booted(self, station_id: str) -> None:
        """A station (re)booted: restore its active profiles."""
        await self.dispatcher.on_station_booted(station_id)

    async def ingest(self, reading: MeterReading) -> None:
        await self.ingestor.ingest(reading)
        self.dispatcher.observe(reading)

    # ------------------------------------------------------------------ CSMS → station
    def protocol_of(self, station_id: str) -> str | None:
        session = self.sessions.get(station_id)
        return session.protocol if session else None

    def connected(self, station_id: str) -> bool:
        session = self.sessions.get(station_id)
        return bool(session and session.connected)

    async def call(self, station_id: str, payload: Any) -> Any:
        """Send one request (a versioned ``ocpp`` call dataclass); raise on CallError."""
        session = self.sessions.get(station_id)
        if session is None or session.handler is None:
            raise StationNotConnected(f"station_id: {station_id!r} is not connected")
        return await session.handler.call(payload, suppress=False)
