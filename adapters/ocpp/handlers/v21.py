"""OCPP 2.1 handlers: the 2.x set; charging needs (with V2X limits) get the 2.1 statuses."""

from __future__ import annotations

from ocpp.v21 import ChargePoint as V21ChargePoint
from ocpp.v21 import call_result
from ocpp.v21.enums import Action

from adapters.ocpp.handlers.v201 import TwoXHandlers


# ocpp ships no types, so its ChargePoint is Any to mypy (disallow_subclassing_any).
class V21Handler(TwoXHandlers, V21ChargePoint):  # type: ignore[misc]
    """2.1 stations; NotifyEVChargingNeeds carries ``v2x_charging_parameters`` here."""

    protocol = "ocpp2.1"
    results = call_result
    known_actions = frozenset(a.value for a in Action)

    def charging_needs_status(self, evse_id: int) -> str:
        """Accepted if the FSP has a schedule for the EVSE (its profile is or will be set),
        else NoChargingProfile: the needs are stored for the FSP's planning, but no profile
        is promised, so the EV follows its own schedule until one arrives (2.1 K18)."""
        if self.csms.has_charging_profile(self.id, evse_id):
            return "Accepted"
        return "NoChargingProfile"
