"""The station's BootNotification and StatusNotification requests, in the payload shape of
its OCPP version (1.6 or 2.x): pure, so the station module keeps only the behaviour."""

from __future__ import annotations

from typing import Any

from adapters.ocpp.simulator.profiles import format_time

_STATUS_16 = {"Available": "Available", "Occupied": "Charging"}


def boot_notification(protocol: str) -> dict[str, Any]:
    """The BootNotification request of a powered-up station."""
    if protocol == "ocpp1.6":
        return {"chargePointVendor": "flexmarket", "chargePointModel": "FlexSim-V2G"}
    return {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "flexmarket", "model": "FlexSim-V2G"},
    }


def status_notification(
    protocol: str, evse_id: int, status: str, timestamp_unix: int
) -> dict[str, Any]:
    """The StatusNotification request of one EVSE (``Available`` or ``Occupied``)."""
    if protocol == "ocpp1.6":
        return {"connectorId": evse_id, "errorCode": "NoError", "status": _STATUS_16[status]}
    return {
        "timestamp": format_time(timestamp_unix),
        "connectorStatus": status,
        "evseId": evse_id,
        "connectorId": 1,
    }
