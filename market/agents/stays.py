"""An EV stay the EV user announced to the FSP (a booking in its app, or a scenario entry)
and the one function that turns it into the :class:`~market.agents.fleet.EV` the agent plans.

Why one function: the replay's FSP and the FSP gateway must plan the same EVs from the same
announcements, or ``live`` and ``replay`` settle different figures. The gateway plans an
announced stay before the EV is plugged in (a day-ahead gate is hours before arrival); once
it is plugged in, the SoC its CSMS reports replaces the announced arrival SoC
(:func:`soc_at_session_start`). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, ConfigDict, Field

from market.agents.fleet import EV, Booking, UserPreferences


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class StayBooking(_Strict):
    """A fleet booking inside the stay: the EV leaves at ``start_unix`` holding ``soc_wh``."""

    booking_id: str = Field(min_length=1)
    start_unix: int
    end_unix: int
    soc_wh: int = Field(ge=0)
    return_soc_wh: int = Field(ge=0)


class AnnouncedStay(_Strict):
    """What the EV user announced: where and when the EV parks, its battery and its needs.

    ``min_departure_soc_pct`` already includes a booking that starts when the stay ends."""

    ev_id: str = Field(min_length=1)
    station: str = Field(min_length=1)
    evse_id: int = Field(ge=0)
    congestion_point: str = Field(min_length=1)
    bus: int | None = None
    battery_wh: int = Field(gt=0)
    arrival_soc_pct: int = Field(ge=0, le=100)
    arrival_unix: int
    departure_unix: int
    max_charge_w: int = Field(ge=0)
    max_discharge_w: int = Field(default=0, ge=0)
    min_departure_soc_pct: int = Field(default=0, ge=0, le=100)
    reserve_soc_pct: int = Field(default=0, ge=0, le=100)
    target_soc_pct: int = Field(default=100, ge=0, le=100)
    min_price_per_mwh: int = 0
    opt_in: bool = True
    bookings: list[StayBooking] = []

    def overlaps(self, start_unix: int, end_unix: int) -> bool:
        return self.departure_unix > start_unix and self.arrival_unix < end_unix


def _pct_wh(battery_wh: int, pct: int) -> int:
    return battery_wh * pct // 100


def announced_ev(stay: AnnouncedStay) -> EV:
    """The FSP's view of one announced stay, planned from the announced arrival SoC."""
    wh = stay.battery_wh
    return EV(
        ev_id=stay.ev_id,
        station_id=stay.station,
        evse_id=stay.evse_id,
        congestion_point=stay.congestion_point,
        capacity_wh=wh,
        soc_wh=_pct_wh(wh, stay.arrival_soc_pct),
        arrival_unix=stay.arrival_unix,
        max_charge_w=stay.max_charge_w,
        max_discharge_w=stay.max_discharge_w,
        preferences=UserPreferences(
            departure_unix=stay.departure_unix,
            min_departure_soc_wh=_pct_wh(wh, stay.min_departure_soc_pct),
            min_price_per_mwh=stay.min_price_per_mwh,
            opt_in=stay.opt_in,
        ),
        min_soc_wh=_pct_wh(wh, stay.reserve_soc_pct),
        target_soc_wh=_pct_wh(wh, max(stay.target_soc_pct, stay.min_departure_soc_pct)),
        bus=stay.bus,
        bookings=tuple(Booking(**b.model_dump()) for b in stay.bookings),
    )


def soc_at_session_start(ev: EV, stored_wh: int, at_unix: int, start_unix: int) -> EV:
    """An EV already plugged in: ``stored_wh`` (from the charger) at ``at_unix``, plus what
    it charges uncontrolled (the station's default, full power) until the session starts."""
    uncontrolled_wh = ev.max_charge_w * max(0, start_unix - at_unix) // 3600
    soc_wh = min(ev.capacity_wh, max(0, stored_wh) + uncontrolled_wh)
    return dataclasses.replace(ev, soc_wh=soc_wh)


def reported_ev(
    stay: AnnouncedStay, soc_pct: int | None, reading_unix: int | None, start_unix: int
) -> EV:
    """The EV of ``stay`` as its FSP plans it for a session starting at ``start_unix``: from
    the announced arrival SoC until its charger reports an SoC taken after the EV arrived;
    then from that percent (``soc_pct`` at ``reading_unix``) plus uncontrolled charging until
    the session starts. A report at the arrival instant says no more than the announcement.

    Why one function: the FSP gateway (from its CSMS) and the replay's FSP (from the replay's
    CSMS) must plan the same EV from the same report, or ``live`` and ``replay`` pay
    different figures; the charger's integer percent, not the simulated battery's Wh, is
    what an FSP knows."""
    ev = announced_ev(stay)
    if soc_pct is None or reading_unix is None or reading_unix <= stay.arrival_unix:
        return ev
    stored_wh = ev.capacity_wh * max(0, min(100, soc_pct)) // 100
    return soc_at_session_start(ev, stored_wh, reading_unix, start_unix)
