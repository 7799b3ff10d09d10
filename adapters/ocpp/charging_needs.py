"""EV charging needs (NotifyEVChargingNeeds, OCPP 2.0.1 and 2.1) as one typed record.

Why a record of integers: the FSP's fleet model plans in Unix seconds, Wh and W; the station
sends RFC 3339 times and (on 2.1) JSON numbers. Conversion happens once, here, so the CSMS's
memory, the ``ev_charging_needs`` table and the fleet model all see the same values.

Where the needs come from, first match wins:

* energy: 2.1 ``v2xChargingParameters.evTargetEnergyRequest``, else the AC or DC
  ``energyAmount`` (both versions);
* maximum charge power: ``v2xChargingParameters.maxChargePower``, else DC ``evMaxPower``;
* minimum charge, minimum / maximum discharge power: ``v2xChargingParameters`` only (2.1);
* operation mode: the requested energy transfer (``AC_BPT`` ... on 2.1), and on 2.1 the
  ``controlMode`` and ``mobilityNeedsMode``.

The schema has already been checked at the wire; what it cannot say (no negative energy or
power, an EVSE id above 0) is checked here and refused with PropertyConstraintViolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NoReturn

from ocpp.exceptions import PropertyConstraintViolationError

from adapters.ocpp.timestamps import TimestampError, parse_rfc3339
from clearing.units import MAX_POWER_W

MAX_ENERGY_WH = 10**12  # 1 TWh: far above any battery; bounds what a station can make us store
BIDIRECTIONAL_TRANSFER_MODES = frozenset({"AC_BPT", "AC_BPT_DER", "DC_BPT", "DC_ACDP_BPT"})
"""OCPP 2.1 energy transfer modes in which the EV may discharge (bidirectional power transfer)."""


@dataclass(frozen=True, slots=True)
class EvChargingNeeds:
    """What an EV on one EVSE asked for: departure, energy, power limits and transfer mode.

    ``None`` means the station did not say. Powers are magnitudes in W (discharge too).
    """

    station_id: str
    evse_id: int
    protocol: str
    requested_energy_transfer: str
    departure_unix: int | None
    energy_amount_wh: int | None
    min_charge_power_w: int | None
    max_charge_power_w: int | None
    min_discharge_power_w: int | None
    max_discharge_power_w: int | None
    target_soc_pct: int | None
    control_mode: str | None
    mobility_needs_mode: str | None
    received_at: int

    @property
    def bidirectional(self) -> bool:
        """True if the EV asked for a transfer mode in which it may discharge."""
        return self.requested_energy_transfer in BIDIRECTIONAL_TRANSFER_MODES


def parse_charging_needs(
    station_id: str,
    evse_id: int,
    protocol: str,
    charging_needs: dict[str, Any],
    received_at: int,
) -> EvChargingNeeds:
    """Build the record from the library's snake_case ``chargingNeeds``; refuse what is absurd.

    Raises PropertyConstraintViolationError (answered as that CallError, nothing stored).
    """
    if evse_id <= 0:
        _refuse(f"evseId must be > 0, got {evse_id}")
    v2x = charging_needs.get("v2x_charging_parameters") or {}
    ac = charging_needs.get("ac_charging_parameters") or {}
    dc = charging_needs.get("dc_charging_parameters") or {}
    max_charge = _first(v2x.get("max_charge_power"), dc.get("ev_max_power"))
    energy = _first(
        v2x.get("ev_target_energy_request"), ac.get("energy_amount"), dc.get("energy_amount")
    )
    departure = charging_needs.get("departure_time")
    try:
        departure_unix = parse_rfc3339(departure) if departure is not None else None
    except TimestampError as exc:  # the wire checks date-times; kept for direct callers
        _refuse(f"departureTime: {exc}")
    return EvChargingNeeds(
        station_id=station_id,
        evse_id=evse_id,
        protocol=protocol,
        requested_energy_transfer=str(charging_needs["requested_energy_transfer"]),
        departure_unix=departure_unix,
        energy_amount_wh=_whole("energyAmount", energy, MAX_ENERGY_WH),
        min_charge_power_w=_whole("minChargePower", v2x.get("min_charge_power"), MAX_POWER_W),
        max_charge_power_w=_whole("maxChargePower", max_charge, MAX_POWER_W),
        min_discharge_power_w=_whole(
            "minDischargePower", v2x.get("min_discharge_power"), MAX_POWER_W
        ),
        max_discharge_power_w=_whole(
            "maxDischargePower", v2x.get("max_discharge_power"), MAX_POWER_W
        ),
        target_soc_pct=v2x.get("target_soc"),
        control_mode=charging_needs.get("control_mode"),
        mobility_needs_mode=charging_needs.get("mobility_needs_mode"),
        received_at=received_at,
    )


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _whole(name: str, value: Any, limit: int) -> int | None:
    """A JSON number as a whole non-negative integer (rounded), or None if absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _refuse(f"{name} must be a finite number, got {value!r}")
    if not 0 <= value <= limit:
        _refuse(f"{name} must be within 0..{limit}, got {value}")
    return round(value)


def _refuse(cause: str) -> NoReturn:
    raise PropertyConstraintViolationError(details={"cause": cause})
