"""Small EV fleets for the agent tests."""

from __future__ import annotations

from market.agents.fleet import EV, Booking, UserPreferences

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, an ISP boundary
ISP = 900


def ev(
    ev_id: str = "ev1",
    *,
    cp: str = "ean.871685000000000001",
    capacity_wh: int = 60_000,
    soc_wh: int = 20_000,
    arrival: int = T0,
    departure: int = T0 + 8 * 3600,
    min_departure_soc_wh: int = 40_000,
    max_charge_w: int = 11_000,
    max_discharge_w: int = 11_000,
    min_price_per_mwh: int = 0,
    opt_in: bool = True,
    min_soc_wh: int = 0,
    bookings: tuple[Booking, ...] = (),
    station: str | None = None,
) -> EV:
    return EV(
        ev_id=ev_id,
        station_id=station or f"cs-{ev_id}",
        evse_id=1,
        congestion_point=cp,
        capacity_wh=capacity_wh,
        soc_wh=soc_wh,
        arrival_unix=arrival,
        max_charge_w=max_charge_w,
        max_discharge_w=max_discharge_w,
        preferences=UserPreferences(
            departure_unix=departure,
            min_departure_soc_wh=min_departure_soc_wh,
            min_price_per_mwh=min_price_per_mwh,
            opt_in=opt_in,
        ),
        min_soc_wh=min_soc_wh,
        bookings=bookings,
    )
