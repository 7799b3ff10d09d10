"""Station notifications the CSMS acknowledges without acting on them, and DataTransfer.

Why: every real station sends security events, device-model events and firmware / log /
diagnostics progress; answering NotSupported makes some of them retry or raise alarms. The
specification's answer to each is an empty payload. DataTransfer is answered with the
``UnknownVendorId`` status because this CSMS knows no vendor extensions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from adapters.ocpp.handlers.routing import on

LOG = logging.getLogger(__name__)


def _method_name(action: str) -> str:
    """``on_<snake_case action>``: the library routes by the function's own name."""
    return "on_" + re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()


def acknowledge(action: str) -> Callable[..., Any]:
    """A handler for ``action`` that logs the notification and answers the empty payload."""

    def handler(self: Any, **payload: Any) -> Any:
        LOG.info("station %s: %s %.500s", self.id, action, payload)
        self.csms.stats[f"notified_{action}"] += 1
        return getattr(self.results, action)()

    handler.__name__ = handler.__qualname__ = _method_name(action)
    return on(action)(handler)


def data_transfer() -> Callable[..., Any]:
    """The DataTransfer handler: no vendor extension is known here."""

    def on_data_transfer(self: Any, vendor_id: str, **_: Any) -> Any:
        LOG.info("station %s: DataTransfer from unknown vendor %.255s", self.id, vendor_id)
        return self.results.DataTransfer(status="UnknownVendorId")

    return on("DataTransfer")(on_data_transfer)


class Acknowledge2x:
    """OCPP 2.0.1 / 2.1 notifications answered with the empty payload."""

    on_security_event_notification = acknowledge("SecurityEventNotification")
    on_notify_event = acknowledge("NotifyEvent")
    on_firmware_status_notification = acknowledge("FirmwareStatusNotification")
    on_log_status_notification = acknowledge("LogStatusNotification")
    on_notify_report = acknowledge("NotifyReport")
    on_notify_monitoring_report = acknowledge("NotifyMonitoringReport")
    on_notify_customer_information = acknowledge("NotifyCustomerInformation")
    on_notify_display_messages = acknowledge("NotifyDisplayMessages")
    on_reservation_status_update = acknowledge("ReservationStatusUpdate")
    on_publish_firmware_status_notification = acknowledge("PublishFirmwareStatusNotification")
    on_data_transfer = data_transfer()


class Acknowledge16:
    """OCPP 1.6 (with the security extension) notifications answered with the empty payload."""

    on_security_event_notification = acknowledge("SecurityEventNotification")
    on_firmware_status_notification = acknowledge("FirmwareStatusNotification")
    on_diagnostics_status_notification = acknowledge("DiagnosticsStatusNotification")
    on_log_status_notification = acknowledge("LogStatusNotification")
    on_signed_firmware_status_notification = acknowledge("SignedFirmwareStatusNotification")
    on_data_transfer = data_transfer()
