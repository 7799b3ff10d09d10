"""OCPP 2.1 handlers: the 2.x set plus V2X charging needs (departure, energy, V2X limits)."""

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
