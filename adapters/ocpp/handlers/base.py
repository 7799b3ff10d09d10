"""What every CSMS-side handler shares, whatever the OCPP version.

Meter samples become :class:`MeterReading` objects in one place, here.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case

from adapters.ocpp.follow import MeterSample
from adapters.ocpp.signing import SignedReadingError, decode_signed_meter_data
from adapters.ocpp.sink import MeterReading
from adapters.ocpp.timestamps import parse_rfc3339

if TYPE_CHECKING:
    from adapters.ocpp.session import CsmsPort

_LINE_OF_PHASE = {"L1": "L1", "L2": "L2", "L3": "L3", "L1-N": "L1", "L2-N": "L2", "L3-N": "L3"}
_UNIT_SCALE = {"Wh": 1, "kWh": 1000, "W": 1, "kW": 1000, "Percent": 1}


class CsmsHandlerMixin:
    """Mixed in before the versioned ``ChargePoint``: the CSMS, the version, meter values.

    ``connection`` is the station's :class:`~adapters.ocpp.wire.StationWire`, which checks
    every frame before the library routes it.
    """

    protocol: str = ""
    known_actions: frozenset[str] = frozenset()
    results: ModuleType  # the version's ``call_result`` module
    route_map: dict[str, Any]  # set by the library's ChargePoint: action -> handlers
    id: str

    def __init__(self, station_id: str, connection: Any, csms: CsmsPort, response_timeout: float):
        super().__init__(station_id, connection, response_timeout=response_timeout)  # type: ignore[call-arg]
        self.csms = csms
        self.wire = connection

    async def meter_values_call(self, msg: Any) -> None:
        """A MeterValues request the wire checked: ingest it (the wire answers ``{}``).

        Why not a routed handler: it is the one high-volume message (thousands per second);
        the library's generic path spends most of its time converting key cases.
        """
        payload = msg.payload
        evse_id = payload["connectorId"] if self.protocol == "ocpp1.6" else payload["evseId"]
        self.csms.stats["meter_msgs"] += 1
        await self.ingest_meter_values(evse_id, payload["meterValue"])

    def samples_from(
        self, evse_id: int, meter_values: list[dict[str, Any]], received_at: int
    ) -> list[MeterSample]:
        """Turn camelCase ``meterValue`` entries into samples (skip non-register ones).

        Totals are used where reported; a measurand reported only per phase (L1, L2, L3, or
        L1-N ...) is the sum of its phases.
        """
        out = []
        for mv in meter_values:
            values: dict[str, int] = {}
            per_phase: dict[str, dict[str, int]] = {}
            signed: tuple[str | None, str | None, str | None] = (None, None, None)
            for sv in mv["sampledValue"]:
                measurand = sv.get("measurand", "Energy.Active.Import.Register")
                if sv.get("format") == "SignedData":  # 1.6 carries the envelope as the value
                    signed = _decode_signed(str(sv["value"]), None)
                    continue
                smv = sv.get("signedMeterValue")
                if smv is not None:
                    signed = _decode_signed(smv["signedMeterData"], smv.get("publicKey"))
                phase = sv.get("phase")
                if phase is None:
                    values[measurand] = _scaled(sv)
                elif phase in _LINE_OF_PHASE:
                    per_phase.setdefault(measurand, {}).setdefault(
                        _LINE_OF_PHASE[phase], _scaled(sv)
                    )
            for measurand, lines in per_phase.items():
                values.setdefault(measurand, sum(lines.values()))
            if "Energy.Active.Import.Register" not in values:
                continue
            power_measured = "Power.Active.Import" in values or "Power.Active.Export" in values
            power = values.get("Power.Active.Import", 0) - values.get("Power.Active.Export", 0)
            reading = MeterReading(
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
            out.append(MeterSample(reading, power_measured))
        return out

    async def ingest_meter_values(self, evse_id: int, meter_values: list[dict[str, Any]]) -> None:
        """Store readings from camelCase meter values (the wire form)."""
        await self.ingest_samples(self.samples_from(evse_id, meter_values, self._received_at()))

    async def ingest_samples(self, samples: list[MeterSample]) -> None:
        for sample in samples:
            await self.csms.ingest(sample)

    def _received_at(self) -> int:
        return int(self.csms.clock.now())

    async def ingest_register(self, evse_id: int, import_wh: int, timestamp: str) -> None:
        """Store a bare import-register value (1.6 meterStart / meterStop) as a reading.

        The export register is not in those messages: the EVSE's last known one is kept,
        so that the series shows no false register reset.
        """
        last = self.csms.last_reading(self.id, evse_id)
        reading = MeterReading(
            station_id=self.id,
            evse_id=evse_id,
            timestamp=parse_rfc3339(timestamp),
            import_wh=import_wh,
            export_wh=last.export_wh if last is not None else 0,
            power_w=0,
            soc_pct=None,
            protocol=self.protocol,
            received_at=self._received_at(),
        )
        await self.csms.ingest(MeterSample(reading, power_measured=False))

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
