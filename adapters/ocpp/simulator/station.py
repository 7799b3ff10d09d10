"""A simulated charging station: real OCPP-J over a real WebSocket, physics on a clock.

Why a hand-written OCPP-J client rather than the ``ocpp`` library's ChargePoint: the CSMS is
built on that library, so an independent encoder on the station side catches mistakes the
library would mirror on both ends, and it is light enough to run a thousand stations in one
process. Every payload it sends is validated by the CSMS against the official schemas.

Time model: the station works in whole *nominal* seconds. It samples its meter at multiples
of ``meter_interval_s`` (clock-aligned), integrates power exactly between samples (splitting
at profile period boundaries, EV arrival/departure and fault times) and only uses the clock
to pace itself. A late wake-up therefore never changes the energy, only when it is reported.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import ssl
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from adapters.clock import Clock, SystemClock, sleep_until
from adapters.ocpp.signing import ReadingSigner
from adapters.ocpp.simulator.charging_needs import charging_needs_payload
from adapters.ocpp.simulator.csms_requests import CsmsRequestHandler
from adapters.ocpp.simulator.evse import EvseState
from adapters.ocpp.simulator.faults import StationFaults
from adapters.ocpp.simulator.meter_values import meter_values_request
from adapters.ocpp.simulator.profiles import ProfileError, format_time
from adapters.ocpp.simulator.spec import StationSpec
from adapters.ocpp.simulator.status_messages import boot_notification, status_notification

LOG = logging.getLogger(__name__)
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode
# A CSMS that answers InternalError could not take the message *now* (its store or its clock
# failed for a moment): the station sends it again, this many times at most. Any other
# CallError is the CSMS's final word on that message, and sending it again would not help.
MESSAGE_ATTEMPTS = 30
RETRYABLE_CALL_ERRORS = frozenset({"InternalError"})


class StationCallError(Exception):
    """The CSMS answered one of the station's calls with a CallError."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: {code} ({description})")
        self.code = code


class SimulatedStation:
    """One station; ``run()`` until ``stop()``. Counters are for tests and the benchmark."""

    def __init__(
        self,
        spec: StationSpec,
        csms_url: str,
        *,
        clock: Clock | None = None,
        meter_interval_s: int = 60,
        call_timeout_s: float = 30.0,
        reconnect_delay_s: float = 0.5,
        retry_delay_s: float = 1.0,
        connect_gate: asyncio.Semaphore | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if meter_interval_s <= 0:
            raise ValueError(f"meter_interval_s: must be > 0, got {meter_interval_s}")
        self.spec = spec
        self.url = csms_url.rstrip("/") + "/" + spec.station_id
        self.clock = clock or SystemClock()
        self.meter_interval_s = meter_interval_s
        self.call_timeout_s = call_timeout_s
        self.reconnect_delay_s = reconnect_delay_s
        self.retry_delay_s = retry_delay_s  # wall seconds between sends of an unanswered message
        self._connect_gate = connect_gate
        self.ssl_context = ssl_context
        self.evses = {e.evse_id: EvseState(e) for e in spec.evses}
        self.readings_sent = 0
        self.boots = 0
        self.profiles_received: list[tuple[int, int]] = []  # (evse_id, profile_id)
        self.errors: list[str] = []
        self.booted = asyncio.Event()
        self.t = 0
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._call_lock = asyncio.Lock()
        # What the CSMS has not taken yet, in order: (action, payload, attempts so far).
        self._outbox: list[tuple[str, dict[str, Any], int]] = []
        self._stopping = asyncio.Event()
        self._online = False
        self._signer = ReadingSigner(spec.private_key) if spec.private_key is not None else None
        self._run_task: asyncio.Task[Any] | None = None
        self._sleeping = False
        self._dropped = False
        self._csms_requests = CsmsRequestHandler(
            spec.protocol, self.evses, spec.faults, self.clock, self.profiles_received
        )

    @property
    def protocol(self) -> str:
        return self.spec.protocol

    @property
    def faults(self) -> StationFaults:
        return self.spec.faults

    # ------------------------------------------------------------------ connection
    async def connect(self) -> None:
        """Open the WebSocket (Basic auth, one subprotocol), boot, announce connectors."""
        token = base64.b64encode(f"{self.spec.station_id}:{self.spec.password}".encode()).decode()
        self._ws = await connect(
            self.url,
            subprotocols=[self.protocol],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
            compression=None,
            open_timeout=max(30.0, self.call_timeout_s),
            ping_interval=None,
            proxy=None,
            ssl=self.ssl_context,
            close_timeout=2,
            max_queue=64,
        )
        if self._ws.subprotocol != self.protocol:
            await self._ws.close()
            raise ConnectionError(f"CSMS did not accept subprotocol {self.protocol}")
        self._online = True
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(self._ws))
        await self._boot()
        for evse in self.evses.values():
            await self._status(evse, "Occupied" if evse.plugged else "Available")
        await self._flush_outbox()

    async def disconnect(self) -> None:
        """Drop the connection (as a network fault would)."""
        self._online = False
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self._reader
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection dropped"))
        self._pending.clear()
        self._ws = None
        self._reader = None

    async def _boot(self) -> None:
        payload = boot_notification(self.protocol)
        result = await self.call("BootNotification", payload)
        if result.get("status") != "Accepted":
            raise ConnectionError(f"BootNotification not accepted: {result}")
        self.boots += 1
        self.booted.set()

    # ------------------------------------------------------------------ OCPP-J plumbing
    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one Call and wait for its result (one outstanding call at a time)."""
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected")
        async with self._call_lock:
            uid = f"{next(self._ids)}"
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending[uid] = fut
            try:
                await ws.send(_DUMPS([2, uid, action, payload]))
                async with asyncio.timeout(self.call_timeout_s):
                    result: dict[str, Any] = await fut
                    return result
            finally:
                self._pending.pop(uid, None)

    async def send_raw(self, text: str) -> None:
        """Send arbitrary text (tests use it for malformed frames)."""
        if self._ws is None:
            raise ConnectionError("not connected")
        await self._ws.send(text)

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                await self._on_frame(ws, raw)
        except ConnectionClosed:
            pass
        finally:
            self._online = False

    async def _on_frame(self, ws: ClientConnection, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self.errors.append(f"unparsable frame from CSMS: {raw!r}")
            return
        kind = msg[0]
        if kind == 2:
            _, uid, action, payload = msg
            try:
                result = self._csms_requests.answer(action, payload)
                await ws.send(_DUMPS([3, uid, result]))
            except ProfileError as exc:
                await ws.send(_DUMPS([4, uid, "FormatViolation", str(exc)[:255], {}]))
            except KeyError:
                await ws.send(_DUMPS([4, uid, "NotImplemented", f"{action} not simulated", {}]))
        elif kind in (3, 4):
            fut = self._pending.get(msg[1])
            if fut is None or fut.done():
                return
            if kind == 3:
                fut.set_result(msg[2])
            else:
                self.errors.append(f"CallError {msg[2]}: {msg[3]}")
                fut.set_exception(StationCallError("call", msg[2], msg[3]))

    # ------------------------------------------------------------------ station → CSMS
    async def _send_or_queue(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Send now, or keep the message for later, behind what already waits (the CSMS sees
        a station's messages in the order it made them). Offline, unanswered or refused for a
        moment (InternalError), a message is sent again; nothing measured is dropped
        silently, and a final refusal is in ``errors``."""
        if self._outbox or not self._online:
            self._outbox.append((action, payload, 0))
            await self._flush_outbox()
            return None
        return await self._send(action, payload, 0)

    async def _send(
        self, action: str, payload: dict[str, Any], attempts: int
    ) -> dict[str, Any] | None:
        try:
            result = await self.call(action, payload)
        except (ConnectionError, ConnectionClosed, TimeoutError):
            self._outbox.append((action, payload, attempts + 1))
            return None
        except StationCallError as exc:
            if exc.code in RETRYABLE_CALL_ERRORS and attempts + 1 < MESSAGE_ATTEMPTS:
                self._outbox.append((action, payload, attempts + 1))
            else:
                self.errors.append(f"{action} not taken after {attempts + 1} attempts: {exc}")
                LOG.error("%s: %s", self.spec.station_id, self.errors[-1])
            return None
        if action == "MeterValues":
            self.readings_sent += 1
        return result

    async def _flush_outbox(self) -> None:
        """If online, send what waits, oldest first; stop at the first one not taken (it and
        the rest keep their order for the next try)."""
        waiting, self._outbox = self._outbox, []
        for i, item in enumerate(waiting):
            if not self._online:
                self._outbox.extend(waiting[i:])
                return
            await self._send(*item)
            if self._outbox:  # not taken: it waits first, the rest behind it
                self._outbox.extend(waiting[i + 1 :])
                return

    async def _status(self, evse: EvseState, status: str) -> None:
        eid = evse.spec.evse_id
        payload = status_notification(self.protocol, eid, status, self._stamp(self.t))
        if self._online:  # a status lost here is announced again on the next connect
            try:
                await self.call("StatusNotification", payload)
            except (ConnectionError, ConnectionClosed, TimeoutError, StationCallError) as exc:
                self.errors.append(f"StatusNotification: {exc!r}")

    def _stamp(self, t: int) -> int:
        return t - self.faults.clock_late_s

    async def _plug_in(self, evse: EvseState, t: int) -> None:
        ev = evse.spec.ev
        assert ev is not None
        evse.plugged = True
        eid = evse.spec.evse_id
        ts = format_time(self._stamp(t))
        await self._status(evse, "Occupied")
        if self.protocol == "ocpp1.6":
            id_tag = f"EV{self.spec.station_id[-10:]}{eid}"[:20]
            await self._send_or_queue("Authorize", {"idTag": id_tag})
            result = await self._send_or_queue(
                "StartTransaction",
                {
                    "connectorId": eid,
                    "idTag": id_tag,
                    "meterStart": evse.import_wh,
                    "timestamp": ts,
                },
            )
            evse.tx_id = int(result["transactionId"]) if result else None
            return
        evse.tx_id = str(uuid.uuid4())
        evse.seq_no = 0
        await self._send_or_queue(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": ts,
                "triggerReason": "CablePluggedIn",
                "seqNo": evse.seq_no,
                "transactionInfo": {"transactionId": evse.tx_id, "chargingState": "EVConnected"},
                "evse": {"id": eid, "connectorId": 1},
            },
        )
        if evse.spec.sends_charging_needs(self.protocol):
            await self._send_or_queue(
                "NotifyEVChargingNeeds", charging_needs_payload(ev, eid, ts, self.protocol)
            )

    async def _unplug(self, evse: EvseState, t: int) -> None:
        evse.plugged = False
        eid = evse.spec.evse_id
        ts = format_time(self._stamp(t))
        if self.protocol == "ocpp1.6":
            if evse.tx_id is not None:
                await self._send_or_queue(
                    "StopTransaction",
                    {
                        "meterStop": evse.import_wh,
                        "timestamp": ts,
                        "transactionId": evse.tx_id,
                        "reason": "EVDisconnected",
                    },
                )
        elif evse.tx_id is not None:
            evse.seq_no += 1
            await self._send_or_queue(
                "TransactionEvent",
                {
                    "eventType": "Ended",
                    "timestamp": ts,
                    "triggerReason": "EVDeparted",
                    "seqNo": evse.seq_no,
                    "transactionInfo": {
                        "transactionId": evse.tx_id,
                        "stoppedReason": "EVDisconnected",
                    },
                    "evse": {"id": eid, "connectorId": 1},
                },
            )
        evse.tx_id = None
        # A TxProfile ends with its transaction.
        evse.profiles = [p for p in evse.profiles if p.purpose != "TxProfile"]
        await self._status(evse, "Available")

    def meter_payload(self, evse: EvseState, t: int) -> dict[str, Any]:
        """The MeterValues request for one EVSE at nominal time ``t``."""
        return meter_values_request(
            evse,
            self._stamp(t),
            protocol=self.protocol,
            station_id=self.spec.station_id,
            signer=self._signer,
        )

    # ------------------------------------------------------------------ time
    async def _advance(self, t0: int, t1: int) -> None:
        """Advance every EVSE from t0 to t1, handling plug events and register resets."""
        for evse in self.evses.values():
            ev = evse.spec.ev
            points = []
            if ev is not None:
                points += [x for x in (ev.arrival_unix, ev.departure_unix) if t0 < x <= t1]
            reset = self.faults.reset_registers_at_unix
            if reset is not None and t0 < reset <= t1:
                points.append(reset)
            cur = t0
            for x in sorted(set(points)):
                evse.integrate(cur, x)
                cur = x
                if reset == x:
                    evse.import_j = evse.export_j = 0
                if ev is not None and x == ev.arrival_unix and not evse.plugged:
                    await self._plug_in(evse, x)
                if ev is not None and x == ev.departure_unix and evse.plugged:
                    await self._unplug(evse, x)
            evse.integrate(cur, t1)

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        """Connect, then sample every interval until :meth:`stop`; survives faults."""
        self._run_task = asyncio.current_task()
        self.t = int(self.clock.now())
        await self._connect_with_retry()
        for evse in self.evses.values():
            ev = evse.spec.ev
            if ev is not None and ev.present(self.t):  # already parked at start-up
                await self._plug_in(evse, self.t)
        interval = self.meter_interval_s
        reconnect_at: int | None = None
        try:
            while not self._stopping.is_set():
                t_next = (self.t // interval + 1) * interval
                if not await self._pause_until(t_next):
                    break
                await self._advance(self.t, t_next)
                self.t = t_next
                f = self.faults
                if not f.in_gap(t_next):
                    for evse in self.evses.values():
                        await self._send_or_queue("MeterValues", self.meter_payload(evse, t_next))
                if f.drop_at_unix is not None and not self._dropped and t_next >= f.drop_at_unix:
                    self._dropped = True
                    reconnect_at = t_next + f.drop_for_s
                    await self.disconnect()
                    if f.lose_profiles_on_drop:
                        for evse in self.evses.values():
                            evse.profiles.clear()
                            evse.ignored_profile_ids.clear()
                if reconnect_at is not None and t_next >= reconnect_at:
                    reconnect_at = None
                    await self._connect_with_retry()
                elif reconnect_at is None and not self._online:
                    await self._connect_with_retry()
        finally:
            await self.disconnect()

    async def _pause_until(self, t_next: int) -> bool:
        """Wait until the clock reaches ``t_next``; False if stopped first. Meanwhile send
        again what the CSMS has not taken, every ``retry_delay_s``, and ride out a clock that
        fails for a moment (in ``flexmarket live`` it is a remote chain): a station never
        dies of either, it reports late."""
        while not self._stopping.is_set():
            clock_failed = False
            self._sleeping = True
            try:
                if self.clock.now() >= t_next:
                    return True
                if not (self._outbox and self._online):
                    await sleep_until(self.clock, t_next)
                    return not self._stopping.is_set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.retry_delay_s):
                        await sleep_until(self.clock, t_next)
                        return not self._stopping.is_set()
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    return False
                raise
            except Exception as exc:  # whatever the clock raised: note it and ask again
                self.errors.append(f"clock: {exc!r}")
                LOG.warning("%s: clock failed (%r), retrying", self.spec.station_id, exc)
                clock_failed = True
            finally:
                self._sleeping = False
            if clock_failed:
                await asyncio.sleep(self.retry_delay_s)
            else:
                await self._flush_outbox()
        return False

    async def _connect_with_retry(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._connect_gate is None:
                    await self.connect()
                else:
                    async with self._connect_gate:
                        await self.connect()
                return
            except InvalidStatus:
                raise
            except (
                OSError,
                ConnectionError,
                ConnectionClosed,
                TimeoutError,
                StationCallError,
            ) as exc:
                LOG.info("%s: connect failed (%s), retrying", self.spec.station_id, exc)
                await self.disconnect()
                await asyncio.sleep(self.reconnect_delay_s)

    def stop(self) -> None:
        """Ask :meth:`run` to finish; an in-flight call completes, a sleep is cut short."""
        self._stopping.set()
        if self._sleeping and self._run_task is not None:
            self._run_task.cancel()
