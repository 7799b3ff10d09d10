"""The follow check: does the metered power of an EVSE match what it was ordered?

Why energy registers too: many stations report only energy registers, no power measurand.
Such a sample used to count as 0 W, a false NotFollowed for a 2.1 setpoint and a false
Confirmed for a 1.6 / 2.0.1 cap however far above it the station charged. So the power is
taken from a power measurand where the sample has one (per phase summed where only phases
are reported), otherwise from the energy-register delta since the EVSE's previous sample.

An EVSE that has reported power once is judged on power samples only: its register-only
samples (1.6 meterStart / meterStop) are not judged again from deltas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.ocpp.orders import DispatchStatus

if TYPE_CHECKING:
    from adapters.ocpp.orders import EvseDispatch, IspDispatch
    from adapters.ocpp.sink import MeterReading

SECONDS_PER_HOUR = 3600
REGISTER_RESOLUTION_WH = 1  # each register may be up to this much below the true energy
_JUDGED = (DispatchStatus.ACCEPTED, DispatchStatus.CONFIRMED, DispatchStatus.NOT_FOLLOWED)


@dataclass(frozen=True, slots=True)
class MeterSample:
    """A stored reading plus what the station measured but the reading cannot say."""

    reading: MeterReading
    power_measured: bool  # False: ``reading.power_w`` is 0 because no power was reported


@dataclass(frozen=True, slots=True)
class _Measured:
    """Metered net power over ``(since, until]`` (an instant when since == until), in W."""

    power_w: float
    since: int
    until: int
    tolerance_w: float


class FollowCheck:
    """Judges each ISP of an order from the samples that fall inside it."""

    def __init__(self, tolerance_w: int) -> None:
        self.tolerance_w = tolerance_w
        self._previous: dict[tuple[str, int], MeterReading] = {}
        self._reports_power: set[tuple[str, int]] = set()

    def observe(self, order: EvseDispatch | None, sample: MeterSample) -> None:
        """Count ``sample`` for the ISP of ``order`` it falls in (``order`` None: none)."""
        measured = self._measure(sample)
        if order is None or measured is None:
            return
        for isp in order.isps:
            end = isp.start_unix + isp.duration_s
            if isp.status not in _JUDGED or not (isp.start_unix < measured.until <= end):
                continue
            if measured.since < isp.start_unix:
                continue  # the delta straddles the ISP's start: it mixes two orders
            isp.samples += 1
            if order.protocol == "ocpp2.1":
                following = abs(measured.power_w - isp.power_w) <= measured.tolerance_w
            else:  # a charge limit is a cap: staying below it is following
                following = measured.power_w <= isp.power_w + measured.tolerance_w
            if following:
                isp.samples_following += 1
            if measured.until == end or isp.samples >= 2:
                self._judge(isp)

    def _measure(self, sample: MeterSample) -> _Measured | None:
        reading = sample.reading
        key = (reading.station_id, reading.evse_id)
        previous = self._previous.get(key)
        if previous is None or reading.timestamp >= previous.timestamp:
            self._previous[key] = reading
        if sample.power_measured:
            self._reports_power.add(key)
            t = reading.timestamp
            return _Measured(float(reading.power_w), t, t, float(self.tolerance_w))
        if key in self._reports_power or previous is None:
            return None
        seconds = reading.timestamp - previous.timestamp
        imported = reading.import_wh - previous.import_wh
        exported = reading.export_wh - previous.export_wh
        if seconds <= 0 or imported < 0 or exported < 0:  # out of order, or a register reset
            return None
        power_w = (imported - exported) * SECONDS_PER_HOUR / seconds
        resolution_w = 2 * REGISTER_RESOLUTION_WH * SECONDS_PER_HOUR / seconds
        return _Measured(power_w, previous.timestamp, reading.timestamp,
                         self.tolerance_w + resolution_w)  # fmt: skip

    def _judge(self, isp: IspDispatch) -> None:
        if isp.samples_following == 0:
            isp.status = DispatchStatus.NOT_FOLLOWED
            isp.reason = f"metered power never within {self.tolerance_w} W of setpoint"
        elif isp.status == DispatchStatus.NOT_FOLLOWED:
            isp.status = DispatchStatus.CONFIRMED if isp.confirmed else DispatchStatus.ACCEPTED
            isp.reason = None
