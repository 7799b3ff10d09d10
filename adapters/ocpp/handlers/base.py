"""What every CSMS-side handler shares, whatever the OCPP version.

The ``ocpp`` library drops unparsable frames silently and, for 2.1, answers unknown actions
with nothing at all; OCPP-J requires a CallError in both cases, so :meth:`route_message` is
replaced here. Meter samples become :class:`MeterReading` objects in one place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import ocpp.messages
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import (
    FormatViolationError,
    NotSupportedError,
    OCPPError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplemented,
)
from ocpp.messages import CallError, MessageType, unpack

from adapters.ocpp.signing import SignedReadingError, decode_signed_meter_data
from adapters.ocpp.simulator.profiles import parse_time
from adapters.ocpp.sink import MeterReading
from clearing.json_limits import JsonLimitError, check_json

if TYPE_CHECKING:
    from adapters.ocpp.session import CsmsPort

LOG = logging.getLogger(__name__)

# OCPP 1.6 spells two error codes differently from 2.x.
_V16_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
_UNIT_SCALE = {"Wh": 1, "kWh": 1000, "W": 1, "kW": 1000, "Percent": 1}


class CsmsHandlerMixin:
    """Mixed in before the versioned ``ChargePoint``; gives it the CSMS and strict framing."""

    protocol: str = ""
    known_actions: frozenset[str] = frozenset()
    _ocpp_version: str
    route_map: dict[str, Any]
    id: str
    _send: Callable[[str], Awaitable[None]]

    def __init__(self, station_id: str, connection: Any, csms: CsmsPort, response_timeout: float):
        super().__init__(station_id, connection, response_timeout=response_timeout)  # type: ignore[call-arg]
        self.csms = csms

    def _error(self, unique_id: str, error: OCPPError) -> str:
        code = error.code
        if self.protocol == "ocpp1.6":
            code = _V16_CODES.get(code, code)
        details = {"cause": str(error.details.get("cause", ""))[:500]} if error.details else {}
        frame: str = CallError(unique_id, code, str(error.description)[:255], details).to_json()
        return frame

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
            self.csms.stats["bad_frames"] += 1
            await self._send(self._error(_unique_id_of(raw_msg), error))
            return
        if msg.message_type_id == MessageType.Call:
            if not isinstance(msg.unique_id, str) or not isinstance(msg.action, str):
                self.csms.stats["bad_frames"] += 1
                bad = FormatViolationError(details={"cause": "uniqueId and action must be strings"})
                await self._send(self._error(str(msg.unique_id), bad))
                return
            if msg.action not in self.route_map:
                self.csms.stats["bad_frames"] += 1
                if msg.action in self.known_actions:
                    err: OCPPError = NotSupportedError(
                        details={"cause": f"{msg.action} is not supported by this CSMS"}
                    )
                else:
                    err = OcppNotImplemented(
                        details={"cause": f"{msg.action} is not an OCPP {self.protocol} action"}
                    )
                await self._send(self._error(msg.unique_id, err))
                return
            try:
                if msg.action == "MeterValues":
                    await self._fast_meter_values(msg)
                else:
                    await self._handle_call(msg)  # type: ignore[attr-defined]
            except OCPPError as error:
                self.csms.stats["bad_frames"] += 1
                await self._send(self._error(msg.unique_id, error))
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(msg)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ meter values
    async def _fast_meter_values(self, msg: Any) -> None:
        """MeterValues without the dataclass round-trips: validate, ingest, answer ``{}``.

        Why: it is the one high-volume message (thousands per second); the generic path
        spends most of its time converting key cases back and forth.
        """
        ocpp.messages._validate_payload(msg, self._ocpp_version)
        payload = msg.payload
        evse_id = payload["connectorId"] if self.protocol == "ocpp1.6" else payload["evseId"]
        self.csms.stats["meter_msgs"] += 1
        await self.ingest_meter_values(evse_id, payload["meterValue"])
        await self._send(f"[3,{json.dumps(msg.unique_id)},{{}}]")

    def readings_from(
        self, evse_id: int, meter_values: list[dict[str, Any]], received_at: int
    ) -> list[MeterReading]:
        """Turn camelCase ``meterValue`` entries into MeterReadings (skip non-register ones)."""
        out = []
        for mv in meter_values:
            values: dict[str, int] = {}
            signed: tuple[str | None, str | None, str | None] = (None, None, None)
            for sv in mv["sampledValue"]:
                measurand = sv.get("measurand", "Energy.Active.Import.Register")
                if sv.get("format") == "SignedData":  # 1.6 carries the envelope as the value
                    signed = _decode_signed(str(sv["value"]), None)
                    continue
                smv = sv.get("signedMeterValue")
                if smv is not None:
                    signed = _decode_signed(smv["signedMeterData"], smv.get("publicKey"))
                if sv.get("phase") is not None:
                    continue  # only totals are delivery-relevant
                values[measurand] = _scaled(sv)
            if "Energy.Active.Import.Register" not in values:
                continue
            power = values.get("Power.Active.Import", 0) - values.get("Power.Active.Export", 0)
            out.append(
                MeterReading(
                    station_id=self.id,
                    evse_id=evse_id,
                    timestamp=parse_time(mv["timestamp"]),
                    import_wh=values["Energy.Active.Import.Register"],
                    export_wh=values.get("Energy.Active.Export.Register", 0),
                    power_w=power,
                    soc_pct=values.get("SoC"),
                    protocol=self.protocol,
                    received_at=received_at,
                    signed_data=signed[0],
                    signature=signed[1],
                    public_key=signed[2],
                )
            )
        return out

    async def ingest_meter_values(self, evse_id: int, meter_values: list[dict[str, Any]]) -> None:
        """Store readings from camelCase meter values (the wire form)."""
        received_at = int(self.csms.clock.now())
        for reading in self.readings_from(evse_id, meter_values, received_at):
            await self.csms.ingest(reading)

    async def ingest_snake_meter_values(
        self, evse_id: int, meter_values: list[dict[str, Any]]
    ) -> None:
        """Same, for meter values the library already converted to snake_case."""
        await self.ingest_meter_values(evse_id, snake_to_camel_case(meter_values))


def _scaled(sv: dict[str, Any]) -> int:
    value = sv["value"]
    uom = sv.get("unitOfMeasure")
    unit = sv.get("unit")
    if uom is None and unit is None and type(value) is int:
        base_units: int = value  # the common case: base unit (Wh / W / %), integer already
        return base_units
    multiplier = 0
    if uom:
        unit = uom.get("unit", unit)
        multiplier = int(uom.get("multiplier", 0))
    scale = _UNIT_SCALE.get(unit or "Wh", 1)
    power: float = 10**multiplier  # an int for multiplier >= 0, a float below
    return round(float(value) * scale * power)


def _decode_signed(
    data: str, public_key_b64: str | None
) -> tuple[str | None, str | None, str | None]:
    try:
        signed = decode_signed_meter_data(data, public_key_b64, check_payload=False)
    except SignedReadingError:
        return data, None, public_key_b64  # foreign format (e.g. OCMF): keep it verbatim
    return signed.signed_data, signed.signature, signed.public_key or None


def _unique_id_of(raw: str | bytes) -> str:
    """Best-effort message id of a broken frame; OCPP-J says "-1" when none can be read."""
    try:
        msg = json.loads(raw)
        if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str):
            return msg[1]
    except (ValueError, TypeError):
        pass
    return "-1"
