"""The NotifyEVChargingNeeds a simulated station sends for its EV after a transaction starts.

Why per version: 2.1 carries V2X limits (charge and discharge power) and a timestamp; 2.0.1
has neither, so its EV states an AC three-phase request with an energy amount and currents.
"""

from __future__ import annotations

import math
from typing import Any

from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.profiles import format_time

AC_PHASE_VOLTAGE_V = 230
AC_PHASES = 3
AC_MIN_CURRENT_A = 6  # IEC 61851-1: the least current a charger may offer


def energy_to_target_wh(ev: EvModel) -> int:
    """Energy the EV still needs to reach its target SoC (0 if it is there already)."""
    return max(0, ev.battery_wh * ev.target_soc_pct // 100 - int(ev.stored_wh))


def charging_needs_payload(
    ev: EvModel, evse_id: int, timestamp: str, protocol: str
) -> dict[str, Any]:
    """The request payload (camelCase) for ``protocol`` (ocpp2.1 or ocpp2.0.1)."""
    if protocol == "ocpp2.1":
        return {
            "evseId": evse_id,
            "timestamp": timestamp,
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_BPT",
                "departureTime": format_time(ev.departure_unix),
                "v2xChargingParameters": {
                    "maxChargePower": float(ev.max_charge_w),
                    "maxDischargePower": float(ev.max_discharge_w),
                    "evTargetEnergyRequest": float(energy_to_target_wh(ev)),
                    "targetSoC": ev.target_soc_pct,
                },
            },
        }
    if protocol == "ocpp2.0.1":
        max_current_a = math.ceil(ev.max_charge_w / (AC_PHASES * AC_PHASE_VOLTAGE_V))
        return {
            "evseId": evse_id,
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_three_phase",
                "departureTime": format_time(ev.departure_unix),
                "acChargingParameters": {
                    "energyAmount": energy_to_target_wh(ev),
                    "evMinCurrent": min(AC_MIN_CURRENT_A, max_current_a),
                    "evMaxCurrent": max_current_a,
                    "evMaxVoltage": AC_PHASE_VOLTAGE_V,
                },
            },
        }
    raise ValueError(f"protocol: NotifyEVChargingNeeds is 2.x only, got {protocol!r}")
