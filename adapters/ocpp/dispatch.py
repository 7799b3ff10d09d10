"""Dispatch of per-EVSE, per-ISP power setpoints as OCPP charging profiles.

* OCPP 2.1: one Absolute profile with ``operationMode = CentralSetpoint`` per ISP period,
  ``setpoint`` in W (negative = discharge) bracketed by ``limit`` / ``dischargeLimit``.
* OCPP 2.0.1 and 1.6: charge limits only. A schedule with any discharge is refused before
  anything is sent (``RefusedNoV2G``): those versions give a negative limit no meaning.

Each answer is recorded per ISP; an accepted profile is confirmed with GetCompositeSchedule,
cleared with ClearChargingProfile when its last ISP ends, re-sent when the station reboots,
and checked against the meter: a station that accepts but does not follow shows up as
``NotFollowed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v21 import call as call21
from ocpp.v201 import call as call201

from adapters.clock import Clock, SystemClock, sleep_until
from adapters.ocpp.follow import FollowCheck, MeterSample
from adapters.ocpp.orders import (
    DispatchError,
    DispatchStatus,
    EvseDispatch,
    IspDispatch,
    IspSetpoint,
)
from adapters.ocpp.simulator.profiles import format_time
from adapters.ocpp.timestamps import parse_rfc3339

if TYPE_CHECKING:
    from adapters.ocpp.session import CsmsPort


LOG = logging.getLogger(__name__)

PROFILE_STACK_LEVEL = 2
UNRESTRICTED_LIMIT_W = 1_000_000  # gap between ordered ISPs on limit-only protocols


class Dispatcher:
    """Sends, confirms, clears and re-sends charging profiles through a :class:`Csms`."""

    def __init__(
        self,
        csms: CsmsPort,
        *,
        clock: Clock | None = None,
        confirm: bool = True,
        clear_on_end: bool = True,
        follow_tolerance_w: int = 100,
    ) -> None:
        self.csms = csms
        self.clock = clock or SystemClock()
        self.confirm = confirm
        self.clear_on_end = clear_on_end
        self.follow_tolerance_w = follow_tolerance_w
        self._follow = FollowCheck(follow_tolerance_w)
        self._orders: dict[tuple[str, int], EvseDispatch] = {}
        self._profile_ids = itertools.count(1001)

    # ------------------------------------------------------------------ public API
    async def dispatch(
        self, schedules: Mapping[tuple[str, int], list[IspSetpoint]]
    ) -> dict[tuple[str, int], list[IspDispatch]]:
        """Send every EVSE its schedule concurrently; return per-ISP outcomes.

        A new schedule for an EVSE replaces its previous one (same profile id).
        """
        orders = []
        issued_at = time.monotonic()
        for (station_id, evse_id), setpoints in schedules.items():
            order = self._new_order(station_id, evse_id, setpoints)
            order.issued_at = issued_at
            orders.append(order)
        # Confirm only after every station answered: the answers are what latency is about.
        await asyncio.gather(*(self._send(order, confirm=False) for order in orders))
        if self.confirm:
            await asyncio.gather(
                *(
                    self._confirm(o, o.protocol)
                    for o in orders
                    if o.protocol and o.isps[0].status == DispatchStatus.ACCEPTED
                )
            )
        return {(o.station_id, o.evse_id): o.isps for o in orders}

    def status(self, station_id: str, evse_id: int) -> list[IspDispatch]:
        """Per-ISP outcomes of the latest schedule of one EVSE (empty if none)."""
        order = self._orders.get((station_id, evse_id))
        return list(order.isps) if order else []

    def order(self, station_id: str, evse_id: int) -> EvseDispatch | None:
        return self._orders.get((station_id, evse_id))

    async def clear(self, station_id: str, evse_id: int) -> bool:
        """Remove the EVSE's profile from the station now; True if the station confirmed."""
        order = self._orders.get((station_id, evse_id))
        if order is None or order.cleared:
            return False
        protocol = self.csms.protocol_of(station_id)
        if protocol == "ocpp1.6":
            payload: Any = call16.ClearChargingProfile(id=order.profile_id)
        elif protocol == "ocpp2.0.1":
            payload = call201.ClearChargingProfile(charging_profile_id=order.profile_id)
        else:
            payload = call21.ClearChargingProfile(charging_profile_id=order.profile_id)
        order.cleared = True
        for isp in order.isps:
            if isp.status in (DispatchStatus.ACCEPTED, DispatchStatus.CONFIRMED):
                isp.status = DispatchStatus.CLEARED
        try:
            result = await self.csms.call(station_id, payload)
        except Exception:  # station offline: nothing active to restore later anyway
            return False
        return getattr(result, "status", None) == "Accepted"

    async def on_station_booted(self, station_id: str) -> None:
        """Re-send every still-running schedule of a station that (re)connected."""
        now = self.clock.now()
        pending = [
            o
            for (sid, _), o in self._orders.items()
            if sid == station_id and not o.cleared and o.end_unix > now and o.sends > 0
        ]
        for order in pending:
            if any(i.status == DispatchStatus.REFUSED_NO_V2G for i in order.isps):
                continue
            try:  # one EVSE's trouble must not keep the others' profiles off the station
                await self._send(order)
            except Exception as exc:
                LOG.exception("re-send to %s EVSE %d failed", station_id, order.evse_id)
                self._mark(order, DispatchStatus.NOT_CONNECTED, f"re-send failed ({exc!r})")

    def observe(self, sample: MeterSample) -> None:
        """Compare metered power with the ordered power; flags accepted-but-ignored ISPs."""
        reading = sample.reading
        self._follow.observe(self._orders.get((reading.station_id, reading.evse_id)), sample)

    async def close(self) -> None:
        for order in self._orders.values():
            if order.clear_task is not None:
                order.clear_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await order.clear_task

    # ------------------------------------------------------------------ internals
    def _new_order(
        self, station_id: str, evse_id: int, setpoints: list[IspSetpoint]
    ) -> EvseDispatch:
        if not setpoints:
            raise DispatchError(f"schedules[{station_id!r}, {evse_id}]: empty schedule")
        ordered = sorted(setpoints, key=lambda s: s.start_unix)
        for a, b in itertools.pairwise(ordered):
            if b.start_unix < a.end_unix:
                raise DispatchError(
                    f"schedules[{station_id!r}, {evse_id}]: ISPs overlap at {b.start_unix}"
                )
        for s in ordered:
            if s.duration_s <= 0:
                raise DispatchError(f"duration_s: must be > 0 (ISP at {s.start_unix})")
        previous = self._orders.get((station_id, evse_id))
        if previous is not None and previous.clear_task is not None:
            previous.clear_task.cancel()
        profile_id = previous.profile_id if previous else next(self._profile_ids)
        order = EvseDispatch(
            station_id=station_id,
            evse_id=evse_id,
            profile_id=profile_id,
            isps=[IspDispatch(s.start_unix, s.duration_s, s.power_w) for s in ordered],
        )
        self._orders[(station_id, evse_id)] = order
        return order

    def _mark(self, order: EvseDispatch, status: DispatchStatus, reason: str | None) -> None:
        for isp in order.isps:
            isp.status = status
            isp.reason = reason

    async def _send(self, order: EvseDispatch, *, confirm: bool = True) -> None:
        t0 = order.issued_at if order.issued_at is not None else time.monotonic()
        order.issued_at = None  # a later re-send measures from its own start
        sid = order.station_id
        protocol = self.csms.protocol_of(sid)
        if protocol is None or not self.csms.connected(sid):
            order.sends += 1  # counts as an attempt: re-sent when the station boots
            self._mark(order, DispatchStatus.NOT_CONNECTED, "station not connected")
            return
        if protocol != "ocpp2.1" and any(i.power_w < 0 for i in order.isps):
            self._mark(
                order,
                DispatchStatus.REFUSED_NO_V2G,
                f"discharge requested but {protocol} cannot express V2G setpoints",
            )
            return
        payload = self._profile_payload(order, protocol)
        order.sends += 1
        order.protocol = protocol
        try:
            result = await self.csms.call(sid, payload)
        except TimeoutError:
            self._mark(order, DispatchStatus.TIMEOUT, "no answer to SetChargingProfile")
            return
        except OCPPError as exc:
            self._mark(order, DispatchStatus.REJECTED, f"CallError {exc.code}: {exc.description}")
            return
        except Exception as exc:  # connection dropped mid-call
            self._mark(order, DispatchStatus.NOT_CONNECTED, f"connection lost ({exc})")
            return
        order.answered_after_s = time.monotonic() - t0
        if result.status != "Accepted":
            info = getattr(result, "status_info", None)
            reason = (info or {}).get("reason_code") if isinstance(info, dict) else None
            self._mark(order, DispatchStatus.REJECTED, reason or f"station said {result.status}")
            return
        self._mark(order, DispatchStatus.ACCEPTED, None)
        if self.confirm and confirm:
            await self._confirm(order, protocol)
        if self.clear_on_end and (order.clear_task is None or order.clear_task.done()):
            order.clear_task = asyncio.get_running_loop().create_task(self._clear_at_end(order))

    async def _clear_at_end(self, order: EvseDispatch) -> None:
        await sleep_until(self.clock, order.end_unix)
        if self._orders.get((order.station_id, order.evse_id)) is order:
            await self.clear(order.station_id, order.evse_id)

    def _periods(self, order: EvseDispatch, protocol: str) -> list[dict[str, Any]]:
        start = order.start_unix
        periods: list[dict[str, Any]] = []
        cursor = start
        for isp in order.isps:
            if isp.start_unix > cursor:  # a hole between ordered ISPs: unconstrained
                periods.append(self._free_period(cursor - start, protocol))
            if protocol == "ocpp2.1":
                periods.append(
                    {
                        "start_period": isp.start_unix - start,
                        "operation_mode": "CentralSetpoint",
                        "setpoint": float(isp.power_w),
                        "limit": float(max(isp.power_w, 0)),
                        "discharge_limit": float(min(isp.power_w, 0)),
                    }
                )
            else:
                periods.append(
                    {"start_period": isp.start_unix - start, "limit": float(isp.power_w)}
                )
            cursor = isp.start_unix + isp.duration_s
        return periods

    @staticmethod
    def _free_period(offset: int, protocol: str) -> dict[str, Any]:
        if protocol == "ocpp2.1":
            return {"start_period": offset, "operation_mode": "ChargingOnly"}
        return {"start_period": offset, "limit": float(UNRESTRICTED_LIMIT_W)}

    def _profile_payload(self, order: EvseDispatch, protocol: str) -> Any:
        session = self.csms.session(order.station_id)
        tx_id = session.evse(order.evse_id).transaction_id
        purpose = "TxProfile" if tx_id is not None else "TxDefaultProfile"
        schedule = {
            "start_schedule": format_time(order.start_unix),
            "duration": order.end_unix - order.start_unix,
            "charging_rate_unit": "W",
            "charging_schedule_period": self._periods(order, protocol),
        }
        if protocol == "ocpp1.6":
            profile16: dict[str, Any] = {
                "charging_profile_id": order.profile_id,
                "stack_level": PROFILE_STACK_LEVEL,
                "charging_profile_purpose": purpose,
                "charging_profile_kind": "Absolute",
                "charging_schedule": schedule,
            }
            if tx_id is not None:
                profile16["transaction_id"] = tx_id
            return call16.SetChargingProfile(
                connector_id=order.evse_id, cs_charging_profiles=profile16
            )
        profile: dict[str, Any] = {
            "id": order.profile_id,
            "stack_level": PROFILE_STACK_LEVEL,
            "charging_profile_purpose": purpose,
            "charging_profile_kind": "Absolute",
            "charging_schedule": [dict(schedule, id=order.profile_id)],
        }
        if tx_id is not None:
            profile["transaction_id"] = str(tx_id)
        module = call21 if protocol == "ocpp2.1" else call201
        return module.SetChargingProfile(evse_id=order.evse_id, charging_profile=profile)

    async def _confirm(self, order: EvseDispatch, protocol: str) -> None:
        now = int(self.clock.now())
        duration = order.end_unix - now
        if duration <= 0:
            return
        if protocol == "ocpp1.6":
            payload: Any = call16.GetCompositeSchedule(
                connector_id=order.evse_id, duration=duration, charging_rate_unit="W"
            )
        else:
            module = call21 if protocol == "ocpp2.1" else call201
            payload = module.GetCompositeSchedule(
                duration=duration, evse_id=order.evse_id, charging_rate_unit="W"
            )
        try:
            result = await self.csms.call(order.station_id, payload)
        except Exception as exc:
            for isp in order.isps:
                isp.reason = f"composite schedule not obtained ({exc!r})"
            return
        if getattr(result, "status", None) != "Accepted":
            return
        try:
            start, periods = _composite_periods(result, protocol)
        except (KeyError, TypeError, ValueError) as exc:  # Accepted, but no usable schedule
            for isp in order.isps:
                isp.reason = f"composite schedule incomplete ({exc})"
            return
        for isp in order.isps:
            if isp.start_unix + isp.duration_s <= start or isp.status != DispatchStatus.ACCEPTED:
                continue
            at = max(isp.start_unix, start) - start
            current = None
            for p in periods:
                if p["start_period"] <= at:
                    current = p
            if current is None:
                isp.reason = "composite schedule does not cover this ISP"
                continue
            if protocol == "ocpp2.1":
                value = current.get("setpoint", current.get("limit"))
            else:
                value = current.get("limit")
            if value is not None and abs(float(value) - isp.power_w) < 1:
                isp.status = DispatchStatus.CONFIRMED
                isp.confirmed = True
            else:
                isp.reason = f"composite schedule shows {value} W, ordered {isp.power_w} W"


def _composite_periods(result: Any, protocol: str) -> tuple[int, list[dict[str, Any]]]:
    """Start (Unix s) and periods of a GetCompositeSchedule answer; raises if it has none.

    Why: ``schedule`` (2.x) and ``scheduleStart`` / ``chargingSchedule`` (1.6) are optional in
    the schemas, so an Accepted answer may carry nothing to confirm against.
    """
    if protocol == "ocpp1.6":
        sched = result.charging_schedule or {}
        start_text = result.schedule_start or sched.get("start_schedule")
    else:
        sched = result.schedule or {}
        start_text = sched.get("schedule_start")
    if not isinstance(start_text, str):
        raise ValueError("no schedule start")
    periods = sched.get("charging_schedule_period") or []
    return parse_rfc3339(start_text), sorted(periods, key=lambda p: p["start_period"])
