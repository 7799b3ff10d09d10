"""OCPP 1.6-J handlers: Start/StopTransaction instead of TransactionEvent, no V2X."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from adapters.ocpp.handlers.base import CsmsHandlerMixin
from adapters.ocpp.handlers.notifications import Acknowledge16
from adapters.ocpp.handlers.routing import after, on
from adapters.ocpp.simulator.profiles import format_time

LOG = logging.getLogger(__name__)


# ocpp ships no types, so its ChargePoint is Any to mypy (disallow_subclassing_any).
class V16Handler(Acknowledge16, CsmsHandlerMixin, V16ChargePoint):  # type: ignore[misc]
    protocol = "ocpp1.6"
    results = call_result
    known_actions = frozenset(a.value for a in Action)

    def _now(self) -> str:
        return format_time(self.csms.clock.now())

    @on(Action.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **_: Any
    ) -> Any:
        self.csms.session(self.id).boot_info = {
            "vendor_name": charge_point_vendor,
            "model": charge_point_model,
        }
        return call_result.BootNotification(
            current_time=self._now(), interval=self.csms.heartbeat_interval_s, status="Accepted"
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_: Any) -> None:
        await self.csms.on_booted(self.id)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        self.csms.session(self.id).last_heartbeat_unix = int(self.csms.clock.now())
        return call_result.Heartbeat(current_time=self._now())

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, status: str, **_: Any) -> Any:
        if connector_id > 0:
            self.csms.session(self.id).evse(connector_id).status = status
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> Any:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> Any:
        tx_id = self.csms.next_transaction_id()
        self.csms.session(self.id).evse(connector_id).transaction_id = tx_id
        await self.ingest_register(connector_id, meter_start, timestamp)
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info={"status": "Accepted"}
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        timestamp: str,
        transaction_data: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        session = self.csms.session(self.id)
        evse_id = session.evse_of_transaction(transaction_id)
        if evse_id is None:  # a transaction this CSMS did not start: no connector to file under
            self.csms.stats["unattributed_readings"] += 1 + len(transaction_data or [])
            LOG.warning("station %s: StopTransaction of unknown transaction %s", self.id,
                        transaction_id)  # fmt: skip
        else:
            samples = self.samples_from(
                evse_id, snake_to_camel_case(transaction_data or []), self._received_at()
            )
            session.evse(evse_id).transaction_id = None
            await self.ingest_samples(samples)
            await self.ingest_register(evse_id, meter_stop, timestamp)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> Any:
        self.csms.stats["meter_msgs"] += 1
        await self.ingest_snake_meter_values(connector_id, meter_value)
        return call_result.MeterValues()
