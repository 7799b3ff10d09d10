"""The CSMS: a WebSocket server speaking OCPP 2.1, 2.0.1 and 1.6-J to charging stations.

Security profile 1: the station id is the last URL path segment and HTTP Basic credentials
(``station_id:password``) are checked against salted scrypt records
(``adapters/ocpp/credentials.py``) in the opening handshake, so unknown stations and wrong
passwords get HTTP 401 before any OCPP traffic. Profile 2 is the same over TLS (pass
``ssl_context``; the URL becomes ``wss://``). Profile 3 is mutual TLS: the certificate's CN
must be the station id (``adapters/ocpp/tls.py``). The handler class is chosen by the
negotiated subprotocol (server preference 2.1 > 2.0.1 > 1.6).

Limits, so that one station or one address cannot take the CSMS down: frames above
``MAX_FRAME_BYTES`` close the connection (1009) and frames nested deeper than
``MAX_JSON_DEPTH`` get a CallError before any parser sees them; handshakes are capped per
address and per station id; failed logins are throttled (``adapters/ocpp/throttle.py``),
logged and counted in :meth:`Csms.status`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import logging
import re
import ssl
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from adapters.clock import Clock, SystemClock
from adapters.ocpp.charging_needs import EvChargingNeeds
from adapters.ocpp.credentials import IN_MEMORY_COST, StationCredentials
from adapters.ocpp.dispatch import Dispatcher
from adapters.ocpp.follow import MeterSample
from adapters.ocpp.handlers.base import CsmsHandlerMixin
from adapters.ocpp.handlers.v16 import V16Handler
from adapters.ocpp.handlers.v21 import V21Handler
from adapters.ocpp.handlers.v201 import V201Handler
from adapters.ocpp.session import StationNotConnected, StationSession
from adapters.ocpp.sink import (
    ChargingNeedsSink,
    InMemorySink,
    MeterReading,
    ReadingIngestor,
    ReadingSink,
)
from adapters.ocpp.throttle import LoginThrottle
from adapters.ocpp.tls import check_profile, common_name
from adapters.ocpp.wire import StationWire
from clearing.json_limits import MAX_DEPTH

LOG = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
HANDLERS: dict[str, type[CsmsHandlerMixin]] = {
    "ocpp2.1": V21Handler,
    "ocpp2.0.1": V201Handler,
    "ocpp1.6": V16Handler,
}


MAX_FRAME_BYTES = 1 << 20
"""1 MiB. The largest legitimate station frames are ReportChargingProfiles and
NotifyEVChargingSchedule (OCPP 2.1): up to 3 schedules x 1024 periods (schema maxItems) of
~300 bytes each when every optional V2X field is set, about 0.9 MB. Anything bigger is not
OCPP; with ``MAX_QUEUED_FRAMES`` it bounds what one connection can make the CSMS buffer."""
MAX_QUEUED_FRAMES = 4
MAX_JSON_DEPTH = MAX_DEPTH  # OCPP frames nest < 10 deep (SetChargingProfile is the deepest)
MAX_CONNECTIONS_PER_IP = 1024  # handshakes + open connections; NAT'd sites share an address
MAX_CONNECTIONS_PER_STATION = 2  # the live connection and the reconnect that replaces it
MAX_STATION_ID_CHARS = 36
STATION_ID = re.compile(rf"[A-Za-z0-9*\-_=+|@.]{{1,{MAX_STATION_ID_CHARS}}}", re.ASCII)
"""A station identity: at most 36 characters of OCPP's identifierString set, without the
``:`` that separates user and password in HTTP Basic; anything else is refused (HTTP 400)."""


class Csms:
    """CSMS server: ``await start()``, then ``url`` for stations, ``dispatcher`` for setpoints.

    ``credentials``: station id → password records (or plain passwords, hashed here);
    with profile 3 they are optional and, if given, list the stations admitted. Every frame
    passes through a :class:`StationWire` (schemas, timestamps, framing) before the ``ocpp``
    library sees it; nothing of the library is patched.
    """

    def __init__(
        self,
        *,
        credentials: StationCredentials | Mapping[str, str] | None = None,
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
        confirm_profiles: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        security_profile: int | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_json_depth: int = MAX_JSON_DEPTH,
        max_connections_per_ip: int | None = MAX_CONNECTIONS_PER_IP,
        max_connections_per_station: int = MAX_CONNECTIONS_PER_STATION,
        station_throttle: LoginThrottle | None = None,
        address_throttle: LoginThrottle | None = None,
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
        if security_profile is None:  # inferred from the context: none 1, server 2, mutual 3
            security_profile = 1 if ssl_context is None else 2
            if ssl_context is not None and ssl_context.verify_mode == ssl.CERT_REQUIRED:
                security_profile = 3
        check_profile(security_profile, ssl_context)
        self.security_profile = security_profile
        self.max_frame_bytes = max_frame_bytes
        self.max_json_depth = max_json_depth
        self.max_connections_per_ip = max_connections_per_ip
        self.max_connections_per_station = max_connections_per_station
        # A station id is one charger: a few tries. An address may be a NAT'd site of many.
        self.station_throttle = station_throttle or LoginThrottle(free_failures=3)
        self.address_throttle = address_throttle or LoginThrottle(free_failures=20)
        self._open_by_ip: defaultdict[str, int] = defaultdict(int)
        self._open_by_station: defaultdict[str, int] = defaultdict(int)
        self._release_tasks: set[asyncio.Task[None]] = set()
        self._login_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        if credentials is None and security_profile < 3:
            raise ValueError(f"credentials: profile {security_profile} needs station passwords")
        self.credentials = (
            credentials
            if isinstance(credentials, StationCredentials)
            else StationCredentials.from_passwords(credentials or {})
        )
        self.sessions: dict[str, StationSession] = {}
        self._transaction_ids = itertools.count(1)
        self.stats: Counter[str] = Counter()
        self.dispatcher = Dispatcher(self, clock=self.clock, confirm=confirm_profiles)
        self._server: Server | None = None

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
            max_size=self.max_frame_bytes,
            max_queue=MAX_QUEUED_FRAMES,
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
        self.credentials.set_password(station_id, password, IN_MEMORY_COST)

    def session(self, station_id: str) -> StationSession:
        return self.sessions.setdefault(station_id, StationSession(station_id))

    # ------------------------------------------------------------------ handshake
    @staticmethod
    def station_id_from_path(path: str) -> str:
        segment = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return unquote(segment)

    async def _authorised(
        self, connection: ServerConnection, station_id: str, header: str | None
    ) -> bool:
        """Profile 3: the client certificate names the station; 1 and 2: its Basic password."""
        if self.security_profile == 3:
            peer_cert = connection.transport.get_extra_info("peercert")
            known = not self.credentials or station_id in self.credentials
            return known and common_name(peer_cert) == station_id
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # scrypt takes ~50 ms: off the event loop, so stations already connected keep going
        matches = await asyncio.to_thread(self.credentials.check, station_id, password)
        return user == station_id and matches

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Admit a handshake: address and station caps, login throttle, then credentials."""
        station_id = self.station_id_from_path(request.path)
        ip = str(connection.remote_address[0]) if connection.remote_address else "?"
        if STATION_ID.fullmatch(station_id) is None:
            self.stats["refused_station_id"] += 1
            LOG.warning("handshake refused: station id %r", station_id[:64])
            return connection.respond(400, "Station id: 1 to 36 of A-Z a-z 0-9 * - _ = + | @ .\n")
        if (
            self.max_connections_per_ip is not None
            and self._open_by_ip[ip] >= self.max_connections_per_ip
        ):
            self.stats["refused_ip_limit"] += 1
            return connection.respond(503, "Too many connections from this address\n")
        self._hold(connection, self._open_by_ip, ip)
        async with self._login_lock(station_id):
            refusal = await self._login(connection, station_id, ip, request)
        if refusal is not None:
            return refusal
        self.station_throttle.succeeded(station_id)
        if self._open_by_station[station_id] >= self.max_connections_per_station:
            self.stats["refused_station_limit"] += 1
            return connection.respond(503, "Too many connections for this station\n")
        self._hold(connection, self._open_by_station, station_id)
        return None

    async def _login(
        self, connection: ServerConnection, station_id: str, ip: str, request: Request
    ) -> Response | None:
        """Throttle, then credentials: None admits the station, else the refusal."""
        retry_after_s = max(
            self.station_throttle.retry_after_s(station_id), self.address_throttle.retry_after_s(ip)
        )
        if retry_after_s > 0:
            self.stats["auth_throttled"] += 1
            response = connection.respond(429, "Too many failed logins; retry later\n")
            response.headers["Retry-After"] = str(int(retry_after_s) + 1)
            return response
        if not await self._authorised(connection, station_id, request.headers.get("Authorization")):
            self.stats["auth_refused"] += 1
            delay_s = max(
                self.station_throttle.failed(station_id), self.address_throttle.failed(ip)
            )
            LOG.warning(
                "station login failed: station=%r address=%s failed_logins=%d next_delay_s=%.0f",
                station_id[:64],
                ip,
                self.station_throttle.total_failures,
                delay_s,
            )
            response = connection.respond(401, "Unknown station or wrong credentials\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
            return response
        return None

    @contextlib.asynccontextmanager
    async def _login_lock(self, station_id: str) -> AsyncIterator[None]:
        """One login check at a time per station id: concurrent guesses cannot all pass the
        throttle before the first failure is counted (the check is awaited, in a thread)."""
        lock, users = self._login_locks.get(station_id, (asyncio.Lock(), 0))
        self._login_locks[station_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._login_locks[station_id]
            if users <= 1:
                del self._login_locks[station_id]
            else:
                self._login_locks[station_id] = (lock, users - 1)

    def _hold(self, connection: ServerConnection, counts: defaultdict[str, int], key: str) -> None:
        """Count ``connection`` under ``key`` until it is closed, whatever ends it."""
        counts[key] += 1

        async def release() -> None:
            try:
                await connection.wait_closed()
            finally:
                counts[key] -= 1
                if counts[key] <= 0:
                    del counts[key]

        task = asyncio.get_running_loop().create_task(release())
        self._release_tasks.add(task)
        task.add_done_callback(self._release_tasks.discard)

    def status(self) -> dict[str, Any]:
        """Counters for the operator: connections, refusals, failed and throttled logins."""
        return {
            "connected_stations": sum(1 for s in self.sessions.values() if s.connected),
            "stats": dict(self.stats),
            "failed_logins": self.station_throttle.total_failures,
            "throttled_logins": self.stats["auth_throttled"],
            "failures_by_station": self.station_throttle.status()["keys"],
            "failures_by_address": self.address_throttle.status()["keys"],
        }

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
                await previous.wire.close()
        wire = StationWire(ws, station_id=station_id, protocol=protocol, csms=self)
        handler = HANDLERS[protocol](station_id, wire, self, self.call_timeout_s)
        wire.attach(handler.route_map, handler.known_actions, handler.meter_values_call)
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

    async def ingest(self, sample: MeterSample) -> None:
        """Store a sample's reading and let the follow check see it."""
        await self.ingestor.ingest(sample.reading)
        self.dispatcher.observe(sample)

    def last_reading(self, station_id: str, evse_id: int) -> MeterReading | None:
        return self.ingestor.last(station_id, evse_id)

    async def store_charging_needs(self, needs: EvChargingNeeds) -> None:
        """Keep an EV's charging needs on its EVSE (until the transaction ends) and in the
        sink, if it keeps them."""
        self.session(needs.station_id).evse(needs.evse_id).ev_needs = needs
        self.stats["charging_needs"] += 1
        if isinstance(self.sink, ChargingNeedsSink):
            await self.sink.store_charging_needs(needs)

    def charging_needs(self, station_id: str, evse_id: int) -> EvChargingNeeds | None:
        """The latest charging needs of the EV in the EVSE's transaction in progress, if sent.

        The FSP's fleet model reads these (``market.agents.fleet.ev_with_charging_needs``).
        """
        session = self.sessions.get(station_id)
        state = session.evses.get(evse_id) if session is not None else None
        return state.ev_needs if state is not None else None

    def has_charging_profile(self, station_id: str, evse_id: int) -> bool:
        """True if the dispatcher holds a schedule for the EVSE that is neither cleared nor
        over (its profile is set, or will be once the station accepts it)."""
        order = self.dispatcher.order(station_id, evse_id)
        if order is None or order.cleared or not order.isps:
            return False
        last = order.isps[-1]
        return last.start_unix + last.duration_s > self.clock.now()

    def next_transaction_id(self) -> int:
        """OCPP 1.6 transaction ids: this CSMS's own counter (other CSMS count their own)."""
        return next(self._transaction_ids)

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
        # The wire checks the request and the answer against their schemas.
        return await session.handler.call(payload, suppress=False, skip_schema_validation=True)
