"""OCPP 2.0.1 handlers; the 2.x message set shared with 2.1 lives in :class:`TwoXHandlers`."""

from __future__ import annotations

import logging
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.v201 import ChargePoint as V201ChargePoint
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from adapters.ocpp.charging_needs import parse_charging_needs
from adapters.ocpp.handlers.base import CsmsHandlerMixin
from adapters.ocpp.handlers.notifications import Acknowledge2x
from adapters.ocpp.handlers.routing import after, on
from adapters.ocpp.session import StationSession
from adapters.ocpp.simulator.profiles import format_time

LOG = logging.getLogger(__name__)
MAX_UNATTRIBUTED_METER_VALUES = 10_000  # per station; bounds what an unknown EVSE can hold


class TwoXHandlers(Acknowledge2x, CsmsHandlerMixin):
    """Station → CSMS messages common to OCPP 2.0.1 and 2.1 (same names and fields)."""

    def _now(self) -> str:
        return format_time(self.csms.clock.now())

    @on(Action.boot_notification)
    def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        self.csms.session(self.id).boot_info = dict(charging_station, reason=reason)
        return self.results.BootNotification(
            current_time=self._now(), interval=self.csms.heartbeat_interval_s, status="Accepted"
        )

    @after(Action.boot_notification)
    async def after_boot_notification(self, **_: Any) -> None:
        await self.csms.on_booted(self.id)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        self.csms.session(self.id).last_heartbeat_unix = int(self.csms.clock.now())
        return self.results.Heartbeat(current_time=self._now())

    @on(Action.status_notification)
    def on_status_notification(self, evse_id: int, connector_status: str, **_: Any) -> Any:
        self.csms.session(self.id).evse(evse_id).status = connector_status
        return self.results.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        return self.results.Authorize(id_token_info={"status": "Accepted"})

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        transaction_info: dict[str, Any],
        evse: dict[str, Any] | None = None,
        meter_value: list[dict[str, Any]] | None = None,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        session = self.csms.session(self.id)
        tx_id = transaction_info["transaction_id"]
        evse_id = evse["id"] if evse else session.evse_of_transaction(tx_id)
        id_token_info = {"status": "Accepted"} if id_token is not None else None
        answer = self.results.TransactionEvent(id_token_info=id_token_info)
        meter_values = snake_to_camel_case(meter_value or [])
        if evse_id is None:
            if event_type == "Started":
                raise OccurrenceConstraintViolationError(
                    details={"cause": "evse is required in the first TransactionEvent"}
                )
            self._keep_unattributed(session, tx_id, event_type, meter_values)
            return answer
        meter_values = session.unattributed.pop(tx_id, []) + meter_values
        samples = self.samples_from(evse_id, meter_values, self._received_at())
        state = session.evse(evse_id)
        if event_type == "Ended":
            state.transaction_id = None
            state.ev_needs = None
        else:
            state.transaction_id = tx_id
        await self.ingest_samples(samples)
        return answer

    def _keep_unattributed(
        self, session: StationSession, tx_id: str, event_type: str, meter_values: list[Any]
    ) -> None:
        """Hold the meter values of a transaction whose EVSE is not known yet.

        Why: after a CSMS restart a station's running transactions go on with events that
        do not repeat the ``evse``; their meter values are filed once an event names it.
        """
        self.csms.stats["unattributed_transaction_events"] += 1
        held = session.unattributed.setdefault(tx_id, [])
        room = MAX_UNATTRIBUTED_METER_VALUES - sum(len(v) for v in session.unattributed.values())
        held.extend(meter_values[: max(room, 0)])
        dropped = len(meter_values) - max(room, 0) if room < len(meter_values) else 0
        if event_type == "Ended":
            dropped += len(session.unattributed.pop(tx_id))
        self.csms.stats["unattributed_readings"] += dropped
        LOG.warning(
            "station %s: TransactionEvent %s of unknown transaction %r without evse (%d held, "
            "%d dropped)", self.id, event_type, tx_id, len(session.unattributed.get(tx_id, [])),
            dropped,
        )  # fmt: skip

    @on(Action.meter_values)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> Any:
        self.csms.stats["meter_msgs"] += 1
        await self.ingest_snake_meter_values(evse_id, meter_value)
        return self.results.MeterValues()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(
        self, evse_id: int, charging_needs: dict[str, Any], **_: Any
    ) -> Any:
        needs = parse_charging_needs(
            self.id, evse_id, self.protocol, charging_needs, self._received_at()
        )
        await self.csms.store_charging_needs(needs)
        return self.results.NotifyEVChargingNeeds(status=self.charging_needs_status(evse_id))

    def charging_needs_status(self, evse_id: int) -> str:
        """2.0.1: Accepted (stored, handed to the FSP); 2.1 overrides it."""
        return "Accepted"


# ocpp ships no types, so its ChargePoint is Any to mypy (disallow_subclassing_any).
class V201Handler(TwoXHandlers, V201ChargePoint):  # type: ignore[misc]
    protocol = "ocpp2.0.1"
    results = call_result
    known_actions = frozenset(a.value for a in Action)
