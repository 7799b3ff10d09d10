"""The station's answers to the CSMS's requests: SetChargingProfile, GetCompositeSchedule and
ClearChargingProfile, in the payload shape of the station's OCPP version."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.clock import Clock
from adapters.ocpp.simulator.evse import EvseState
from adapters.ocpp.simulator.faults import StationFaults
from adapters.ocpp.simulator.profiles import (
    composite_periods,
    format_time,
    parse_set_charging_profile,
)


@dataclass
class CsmsRequestHandler:
    """Answers one station's CSMS requests against its EVSEs' state (which it changes)."""

    protocol: str
    evses: Mapping[int, EvseState]
    faults: StationFaults
    clock: Clock
    profiles_received: list[tuple[int, int]] = field(default_factory=list)  # (evse, profile)

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The result of one Call; ``KeyError`` for an action the simulator does not handle
        (and for a payload missing a field), ``ProfileError`` for a malformed profile."""
        handler: Callable[[dict[str, Any]], dict[str, Any]] = {
            "SetChargingProfile": self._on_set_charging_profile,
            "GetCompositeSchedule": self._on_get_composite_schedule,
            "ClearChargingProfile": self._on_clear_charging_profile,
        }[action]
        return handler(payload)

    def _on_set_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        now = int(self.clock.now())
        profile = parse_set_charging_profile(self.protocol, payload, now)
        evse = self.evses.get(profile.evse_id)
        self.profiles_received.append((profile.evse_id, profile.profile_id))
        if evse is None:
            return self._rejected("UnknownEvse")
        if self.faults.reject_profiles:
            return self._rejected("Fault")
        if profile.purpose == "TxProfile" and evse.tx_id is None:
            return self._rejected("NoTransaction")
        evse.profiles = [p for p in evse.profiles if p.profile_id != profile.profile_id]
        evse.profiles.append(profile)
        if self.faults.ignore_profiles:
            evse.ignored_profile_ids.add(profile.profile_id)
        return {"status": "Accepted"}

    def _rejected(self, reason: str) -> dict[str, Any]:
        if self.protocol == "ocpp1.6":
            return {"status": "Rejected"}
        return {"status": "Rejected", "statusInfo": {"reasonCode": reason}}

    def _on_get_composite_schedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse_id = int(payload["connectorId" if self.protocol == "ocpp1.6" else "evseId"])
        duration = int(payload["duration"])
        evse = self.evses.get(evse_id)
        if evse is None:
            return {"status": "Rejected"}
        now = int(self.clock.now())
        periods = composite_periods(
            self.protocol, evse.profiles, now, duration, evse.spec.max_power_w
        )
        if self.protocol == "ocpp1.6":
            return {
                "status": "Accepted",
                "connectorId": evse_id,
                "scheduleStart": format_time(now),
                "chargingSchedule": {
                    "duration": duration,
                    "startSchedule": format_time(now),
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": periods,
                },
            }
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": evse_id,
                "duration": duration,
                "scheduleStart": format_time(now),
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": periods,
            },
        }

    def _on_clear_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.protocol == "ocpp1.6":
            pid = payload.get("id")
            evse_id = payload.get("connectorId")
            purpose = payload.get("chargingProfilePurpose")
        else:
            pid = payload.get("chargingProfileId")
            crit = payload.get("chargingProfileCriteria", {})
            evse_id = crit.get("evseId")
            purpose = crit.get("chargingProfilePurpose")
        removed = 0
        for evse in self.evses.values():
            if evse_id is not None and evse.spec.evse_id != evse_id and pid is None:
                continue
            keep = []
            for p in evse.profiles:
                match = (pid is not None and p.profile_id == pid) or (
                    pid is None and (purpose is None or p.purpose == purpose)
                )
                if match:
                    removed += 1
                else:
                    keep.append(p)
            evse.profiles = keep
        return {"status": "Accepted" if removed else "Unknown"}
