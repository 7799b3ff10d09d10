"""Helpers for the OCPP integration tests: real CSMS, real sockets, fast clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from adapters.clock import SimulatedClock
from adapters.ocpp.csms import Csms
from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ocpp.simulator.spec import StationSpec

ISP_S = 900
SPEED = 400.0  # one ISP per 2.25 wall seconds
# The first ordered ISP starts LEAD_S after t0; EVs arrive at t0 + 60 and profiles are sent
# at ~t0 + 130, so a setup hiccup of up to ~1 wall second cannot push dispatch past it.
LEAD_S = 600
PASSWORD = "pw-test"


def ev(t0: int, **kw: Any) -> EvModel:
    """An EV parked from t0+60 for 4 h, half full, able to charge/discharge 11 kW."""
    args: dict[str, Any] = {
        "battery_wh": 60_000,
        "soc_pct": 50,
        "max_charge_w": 11_000,
        "max_discharge_w": 11_000,
        "arrival_unix": t0 + 60,
        "departure_unix": t0 + 4 * 3600,
        "reserve_soc_pct": 20,
        "target_soc_pct": 100,
    }
    args.update(kw)
    return EvModel(**args)


@asynccontextmanager
async def running(
    specs: Sequence[StationSpec], clock: SimulatedClock, **csms_kw: Any
) -> AsyncIterator[tuple[Csms, StationFleet]]:
    """A started CSMS that knows the specs' passwords, plus the started fleet."""
    csms = Csms(credentials={s.station_id: s.password for s in specs}, clock=clock, **csms_kw)
    await csms.start()
    fleet = StationFleet(csms.url, specs, clock=clock, meter_interval_s=60, call_timeout_s=10)
    try:
        await fleet.start(timeout_s=20)
        yield csms, fleet
    finally:
        await fleet.stop()
        await csms.stop()


async def sleep_until(clock: SimulatedClock, t: float) -> None:
    wait = t - clock.now()
    if wait > 0:
        await clock.sleep(wait)
