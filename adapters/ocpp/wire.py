"""OCPP-J at the websocket boundary: what the ``ocpp`` library's ChargePoint gets to see.

The library drops unparsable frames silently, answers nothing for unknown 2.1 actions, does
not check date-time formats and validates with slow pure-Python jsonschema. Rather than
override its private parts, the CSMS hands each handler a :class:`StationWire` in place of
the websocket: ``recv()`` returns only frames that are fit to route, and everything else is
answered here, as the specification says:

* a broken CALL gets a CALLERROR (OCPP-J 1.6 section 4.2.3, 2.x section 4.3) and the
  connection stays up; nothing from it is stored, because no handler ever sees it;
* CALLRESULT / CALLERROR frames, and on 2.1 SEND (6) and CALLRESULTERROR (5), are never
  answered; an unknown message type gets ``MessageTypeNotSupported`` on 2.x (section 4.4);
* requests and answers are checked against the schemas in both directions (``schemas.py``),
  request date-time fields as RFC 3339 (``timestamps.py``); a station's answer that breaks
  its schema reaches the caller as a CALLERROR;
* MeterValues, the one high-volume message, is ingested here without the library's
  dataclass round-trips.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from ocpp.exceptions import (
    FormatViolationError,
    InternalError,
    NotSupportedError,
    OCPPError,
    PropertyConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)
from ocpp.messages import Call, CallError, CallResult, MessageType, unpack

from adapters.ocpp.schemas import check_payload
from adapters.ocpp.timestamps import TimestampError, check_timestamps
from clearing.json_limits import JsonLimitError, check_json

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from adapters.ocpp.session import CsmsPort

LOG = logging.getLogger(__name__)

# OCPP 1.6 spells two error codes differently from 2.x.
_V16_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
_CALL_RESULT_ERROR = 5  # OCPP 2.1: "your CALLRESULT was wrong"; never answered
_SEND = 6  # OCPP 2.1: an unconfirmed message (NotifyPeriodicEventStream); never answered
_MAX_OPEN_IDS = 1024  # answers still expected, or calls still being answered, per station

MeterValuesPath = Callable[[Call], Awaitable[None]]


class MessageTypeNotSupportedError(OCPPError):  # type: ignore[misc]  # ocpp ships no types
    """OCPP 2.x RPC framework error for a message type number the receiver does not know."""

    code = "MessageTypeNotSupported"
    default_description = "A message with this Message Type Number is not supported"


class StationWire:
    """The websocket of one station as its ``ChargePoint`` sees it (``recv`` / ``send``)."""

    def __init__(
        self, ws: ServerConnection, *, station_id: str, protocol: str, csms: CsmsPort
    ) -> None:
        self.ws = ws
        self.station_id = station_id
        self.protocol = protocol
        self.ocpp_version = protocol.removeprefix("ocpp")
        self.csms = csms
        self.routes: Collection[str] = ()
        self.known_actions: Collection[str] = ()
        self.meter_values: MeterValuesPath | None = None
        self._our_calls: dict[str, str] = {}  # unique id -> action, awaiting the answer
        self._their_calls: dict[str, str] = {}  # unique id -> action, being answered

    def attach(
        self, routes: Collection[str], known_actions: Collection[str], meter_values: MeterValuesPath
    ) -> None:
        """Connect the handler: the actions it routes, all of its version's, its meter path."""
        self.routes = routes
        self.known_actions = known_actions
        self.meter_values = meter_values

    # ------------------------------------------------------------------ the library's side
    async def recv(self) -> str:
        """The next frame the library should route; all others are dealt with here."""
        while True:
            raw = await self.ws.recv()
            routed = await self._admit(raw)
            if routed is not None:
                return routed

    async def send(self, frame: str) -> None:
        """Send a frame of the library's; check it against its schema first."""
        if frame.startswith("[2"):
            call = unpack(frame)
            await check_payload(call, self.ocpp_version)  # a bad request of ours: raise
            self._remember(self._our_calls, call.unique_id, call.action)
        elif frame.startswith("[3"):
            frame = await self._checked_answer(frame)
        elif frame.startswith("[4"):
            self._their_calls.pop(str(json.loads(frame)[1]), None)
        await self.ws.send(frame)

    async def close(self) -> None:
        await self.ws.close()

    # ------------------------------------------------------------------ incoming frames
    def error_frame(self, unique_id: str, error: OCPPError) -> str:
        code = error.code
        if self.protocol == "ocpp1.6":
            code = _V16_CODES.get(code, code)
        details = {"cause": str(error.details.get("cause", ""))[:500]} if error.details else {}
        frame: str = CallError(unique_id, code, str(error.description)[:255], details).to_json()
        return frame

    async def _refuse(self, unique_id: str, error: OCPPError) -> None:
        self.csms.stats["bad_frames"] += 1
        await self.ws.send(self.error_frame(unique_id, error))

    async def _admit(self, raw: str | bytes) -> str | None:
        """Return ``raw`` (or the frame to route instead) if the library should route it."""
        try:  # before any JSON parser: a deep frame would overflow the C stack
            check_json(raw, max_depth=self.csms.max_json_depth, max_bytes=self.csms.max_frame_bytes)
        except JsonLimitError as exc:
            self.csms.stats["frames_refused"] += 1
            LOG.warning("station %s: frame refused: %s", self.station_id, exc)
            await self.ws.send(
                self.error_frame("-1", FormatViolationError(details={"cause": str(exc)}))
            )
            return None
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        try:
            msg = unpack(raw)
        except OCPPError as error:
            await self._not_a_call(raw, error)
            return None
        if isinstance(msg, CallResult):
            return await self._checked_result(msg, text)
        if isinstance(msg, CallError):
            self._our_calls.pop(str(msg.unique_id), None)
            return text
        return await self._admit_call(msg, text)

    async def _admit_call(self, msg: Call, text: str) -> str | None:
        if not isinstance(msg.unique_id, str) or not isinstance(msg.action, str):
            bad = FormatViolationError(details={"cause": "uniqueId and action must be strings"})
            await self._refuse(str(msg.unique_id), bad)
            return None
        if msg.action not in self.routes:
            if msg.action in self.known_actions:
                cause = f"{msg.action} is not supported by this CSMS"
                err: OCPPError = NotSupportedError(details={"cause": cause})
            else:
                cause = f"{msg.action} is not an OCPP {self.protocol} action"
                err = OcppNotImplemented(details={"cause": cause})
            await self._refuse(msg.unique_id, err)
            return None
        try:
            await check_payload(msg, self.ocpp_version)
            check_timestamps(self.ocpp_version, msg.action, msg.payload)
            if msg.action != "MeterValues" or self.meter_values is None:
                self._remember(self._their_calls, msg.unique_id, msg.action)
                return text
            await self.meter_values(msg)
            await self.ws.send(f"[3,{json.dumps(msg.unique_id)},{{}}]")
        except OCPPError as error:
            await self._refuse(msg.unique_id, error)
        except TimestampError as exc:
            await self._refuse(msg.unique_id, FormatViolationError(details={"cause": str(exc)}))
        except (ValueError, ArithmeticError) as exc:  # e.g. a 1.6 meter value "abc" or NaN
            cause = f"{type(exc).__name__}: {exc}"
            await self._refuse(
                msg.unique_id, PropertyConstraintViolationError(details={"cause": cause})
            )
        except Exception as exc:  # a bug here must not close a station's connection
            LOG.exception("station %s: %s failed", self.station_id, msg.action)
            await self._refuse(msg.unique_id, InternalError(details={"cause": type(exc).__name__}))
        return None

    async def _checked_result(self, msg: CallResult, text: str) -> str:
        """A station's answer; one that breaks its schema reaches the caller as a CallError."""
        action = self._our_calls.pop(str(msg.unique_id), None)
        if action is None:
            return text  # not ours (or late): the library logs and drops it
        msg.action = action
        try:
            await check_payload(msg, self.ocpp_version)
        except OCPPError as error:
            self.csms.stats["bad_answers"] += 1
            LOG.warning("station %s: invalid %s answer: %s", self.station_id, action, error)
            return self.error_frame(str(msg.unique_id), error)
        return text

    async def _checked_answer(self, frame: str) -> str:
        """Our answer to a station's call, checked; a broken one becomes InternalError."""
        result = unpack(frame)
        action = self._their_calls.pop(str(result.unique_id), None)
        if action is None:
            return frame
        result.action = action
        try:
            await check_payload(result, self.ocpp_version)
        except OCPPError as error:
            LOG.error("station %s: our %s answer breaks its schema: %s", self.station_id,
                      action, error)  # fmt: skip
            return self.error_frame(str(result.unique_id), InternalError())
        return frame

    def _remember(self, open_ids: dict[str, str], unique_id: str, action: str) -> None:
        if len(open_ids) >= _MAX_OPEN_IDS:  # answers that never came: forget the oldest
            del open_ids[next(iter(open_ids))]
        open_ids[unique_id] = action

    async def _not_a_call(self, raw: str | bytes, error: OCPPError) -> None:
        """A frame ``unpack`` refused: answer it, unless it is one that is never answered."""
        try:
            frame = json.loads(raw)
        except (ValueError, TypeError):
            frame = None
        type_id = frame[0] if isinstance(frame, list) and frame else None
        unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 else None
        unique_id = unique_id if isinstance(unique_id, str) else "-1"
        if type(type_id) is int:
            unanswered = {MessageType.CallResult, MessageType.CallError}
            if self.protocol == "ocpp2.1":
                unanswered |= {_CALL_RESULT_ERROR, _SEND}
            if type_id in unanswered:
                self.csms.stats["unanswered_frames"] += 1
                LOG.info("station %s: frame type %d not answered: %.200r", self.station_id,
                         type_id, raw)  # fmt: skip
                return
            if type_id != MessageType.Call and self.protocol != "ocpp1.6":
                cause = f"message type {type_id} is not an OCPP-J {self.protocol} type"
                error = MessageTypeNotSupportedError(details={"cause": cause})
        await self._refuse(unique_id, error)
