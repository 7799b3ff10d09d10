"""OCPP-J framing on the CSMS side: every frame gets the answer the specification gives it.

The ``ocpp`` library drops unparsable frames silently, answers nothing for unknown 2.1
actions and does not check date-time formats. :meth:`FramingMixin.route_message` (the
library's hook for one received frame) replaces its routing so that:

* a broken CALL gets a CALLERROR (OCPP-J 1.6 section 4.2.3, 2.x section 4.3) and the
  connection stays up; nothing from it is stored, because it is refused before any handler;
* CALLRESULT / CALLERROR frames, and on 2.1 SEND (6) and CALLRESULTERROR (5), are never
  answered; an unknown message type gets ``MessageTypeNotSupported`` on 2.x (section 4.4);
* an exception in a handler becomes ``InternalError`` rather than a dropped connection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

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
from ocpp.messages import CallError, MessageType, unpack, validate_payload

from adapters.ocpp.timestamps import TimestampError, check_timestamps
from clearing.json_limits import JsonLimitError, check_json

if TYPE_CHECKING:
    from adapters.ocpp.session import CsmsPort

LOG = logging.getLogger(__name__)

# OCPP 1.6 spells two error codes differently from 2.x.
_V16_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
_CALL_RESULT_ERROR = 5  # OCPP 2.1: "your CALLRESULT was wrong"; never answered
_SEND = 6  # OCPP 2.1: an unconfirmed message (NotifyPeriodicEventStream); never answered


class MessageTypeNotSupportedError(OCPPError):  # type: ignore[misc]  # ocpp ships no types
    """OCPP 2.x RPC framework error for a message type number the receiver does not know."""

    code = "MessageTypeNotSupported"
    default_description = "A message with this Message Type Number is not supported"


class FramingMixin:
    """Mixed in before the versioned ``ChargePoint``; routes one received frame."""

    protocol: str = ""
    known_actions: frozenset[str] = frozenset()
    _ocpp_version: str
    route_map: dict[str, Any]
    id: str
    csms: CsmsPort
    _send: Callable[[str], Awaitable[None]]

    def _error(self, unique_id: str, error: OCPPError) -> str:
        code = error.code
        if self.protocol == "ocpp1.6":
            code = _V16_CODES.get(code, code)
        details = {"cause": str(error.details.get("cause", ""))[:500]} if error.details else {}
        frame: str = CallError(unique_id, code, str(error.description)[:255], details).to_json()
        return frame

    async def _refuse(self, unique_id: str, error: OCPPError) -> None:
        self.csms.stats["bad_frames"] += 1
        await self._send(self._error(unique_id, error))

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Route one frame; every broken Call gets a CallError, never silence."""
        try:  # before any JSON parser: a deep frame would overflow the C stack
            check_json(
                raw_msg, max_depth=self.csms.max_json_depth, max_bytes=self.csms.max_frame_bytes
            )
        except JsonLimitError as exc:
            self.csms.stats["frames_refused"] += 1
            LOG.warning("station %s: frame refused: %s", self.id, exc)
            await self._send(self._error("-1", FormatViolationError(details={"cause": str(exc)})))
            return
        try:
            msg = unpack(raw_msg)
        except OCPPError as error:
            await self._not_a_call(raw_msg, error)
            return
        if msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)  # type: ignore[attr-defined]
            return
        if not isinstance(msg.unique_id, str) or not isinstance(msg.action, str):
            bad = FormatViolationError(details={"cause": "uniqueId and action must be strings"})
            await self._refuse(str(msg.unique_id), bad)
            return
        if msg.action not in self.route_map:
            if msg.action in self.known_actions:
                cause = f"{msg.action} is not supported by this CSMS"
                err: OCPPError = NotSupportedError(details={"cause": cause})
            else:
                cause = f"{msg.action} is not an OCPP {self.protocol} action"
                err = OcppNotImplemented(details={"cause": cause})
            await self._refuse(msg.unique_id, err)
            return
        try:
            await self._check_call(msg)
            if msg.action == "MeterValues":
                await self._fast_meter_values(msg)  # type: ignore[attr-defined]
            else:
                await self._handle_call(msg)  # type: ignore[attr-defined]
        except OCPPError as error:
            await self._refuse(msg.unique_id, error)
        except (ValueError, ArithmeticError) as exc:  # e.g. a 1.6 meter value "abc" or NaN
            cause = f"{type(exc).__name__}: {exc}"
            await self._refuse(
                msg.unique_id, PropertyConstraintViolationError(details={"cause": cause})
            )
        except Exception as exc:  # a bug here must not close a station's connection
            LOG.exception("station %s: %s failed", self.id, msg.action)
            await self._refuse(msg.unique_id, InternalError(details={"cause": type(exc).__name__}))

    async def _check_call(self, msg: Any) -> None:
        """Schema first (so its error codes stay the library's), then every date-time field."""
        await validate_payload(msg, self._ocpp_version)
        try:
            check_timestamps(self._ocpp_version, msg.action, msg.payload)
        except TimestampError as exc:
            raise FormatViolationError(details={"cause": str(exc)}) from None

    async def _not_a_call(self, raw_msg: str | bytes, error: OCPPError) -> None:
        """A frame ``unpack`` refused: answer it, unless it is one that is never answered."""
        try:
            frame = json.loads(raw_msg)
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
                LOG.info(
                    "station %s: frame type %d not answered: %.200s", self.id, type_id, raw_msg
                )
                return
            if type_id != MessageType.Call and self.protocol != "ocpp1.6":
                cause = f"message type {type_id} is not an OCPP-J {self.protocol} type"
                error = MessageTypeNotSupportedError(details={"cause": cause})
        await self._refuse(unique_id, error)
