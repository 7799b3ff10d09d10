"""What every CSMS-side handler shares, whatever the OCPP version: framing and meter values.

Frames are routed by :class:`FramingMixin`; meter samples become :class:`MeterReading`
objects in one place, here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case

from adapters.ocpp.handlers.framing import FramingMixin
from adapters.ocpp.signing import SignedReadingError, decode_signed_meter_data
from adapters.ocpp.sink import MeterReading
from adapters.ocpp.timestamps import parse_rfc3339

if TYPE_CHECKING:
    from adapters.ocpp.session import CsmsPort

_UNIT_SCALE = {"Wh": 1, "kWh": 1000, "W": 1, "kW": 1000, "Percent": 1}


class CsmsHandlerMixin(FramingMixin):
    """Mixed in before the versioned ``ChargePoint``; gives it the CSMS and strict framing."""

    def __init__(self, station_id: str, connection: Any, csms: CsmsPort, response_timeout: float):
        super().__init__(station_id, connection, response_timeout=response_timeout)  # type: ignore[call-arg]
        self.csms = csms

    # ------------------------------------------------------------------ meter values
    async def _fast_meter_values(self, msg: Any) -> None:
        """MeterValues without the dataclass round-trips: validate, ingest, answer ``{}``.

        Why: it is the one high-volume message (thousands per second); the generic path
        spends most of its time converting key cases back and forth.
        """
        payload = msg.payload  # validated by route_message
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
                    timestamp=parse_rfc3339(mv["timestamp"]),
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
