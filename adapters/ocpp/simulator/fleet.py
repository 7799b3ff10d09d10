"""A fleet of simulated stations against one CSMS URL: the library API replays use."""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import Iterable

from adapters.clock import Clock, SystemClock
from adapters.ocpp.simulator.ev import EvModel
from adapters.ocpp.simulator.spec import EvseSpec, StationSpec
from adapters.ocpp.simulator.station import SimulatedStation


class StationFleet:
    """Starts N stations concurrently, waits until all booted, stops them on request."""

    def __init__(
        self,
        csms_url: str,
        specs: Iterable[StationSpec],
        *,
        clock: Clock | None = None,
        meter_interval_s: int = 60,
        call_timeout_s: float = 30.0,
        connect_concurrency: int = 100,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.csms_url = csms_url
        self.clock = clock or SystemClock()
        self.stations: dict[str, SimulatedStation] = {}
        self._connect_gate = asyncio.Semaphore(connect_concurrency)
        for spec in specs:
            if spec.station_id in self.stations:
                raise ValueError(f"station_id: duplicate {spec.station_id!r}")
            self.stations[spec.station_id] = SimulatedStation(
                spec,
                csms_url,
                clock=self.clock,
                meter_interval_s=meter_interval_s,
                call_timeout_s=call_timeout_s,
                connect_gate=self._connect_gate,
                ssl_context=ssl_context,
            )
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, *, timeout_s: float = 120.0) -> float:
        """Start every station; return once all have booted (seconds it took)."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for sid, station in self.stations.items():
            self._tasks[sid] = loop.create_task(station.run(), name=f"station-{sid}")
        waits = [asyncio.ensure_future(s.booted.wait()) for s in self.stations.values()]
        if not waits:
            return 0.0
        _done, pending = await asyncio.wait(waits, timeout=timeout_s)
        for w in pending:
            w.cancel()
        failed = [t for t in self._tasks.values() if t.done() and t.exception() is not None]
        if pending or failed:
            errs = [repr(t.exception()) for t in failed][:3]
            raise TimeoutError(
                f"fleet: {len(pending)} of {len(waits)} stations not booted after {timeout_s}s; "
                f"errors: {errs}"
            )
        return loop.time() - t0

    async def stop(self) -> None:
        """Stop all stations and close their connections."""
        for station in self.stations.values():
            station.stop()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        self._tasks.clear()

    def failures(self) -> dict[str, BaseException]:
        """The stations whose run ended with an error: a station never ends on its own, so
        a process running a fleet checks this and says which one and why."""
        out: dict[str, BaseException] = {}
        for sid, task in self._tasks.items():
            if task.done() and not task.cancelled() and (exc := task.exception()) is not None:
                out[sid] = exc
        return out

    @property
    def readings_sent(self) -> int:
        return sum(s.readings_sent for s in self.stations.values())

    def __getitem__(self, station_id: str) -> SimulatedStation:
        return self.stations[station_id]


def random_fleet_specs(
    n: int,
    *,
    start_unix: int,
    protocol: str = "ocpp2.1",
    evses_per_station: int = 1,
    seed: int = 0,
    sign: bool = True,
    password: str = "secret",
    prefix: str = "CS",
) -> list[StationSpec]:
    """N stations with plausible EVs (seeded), e.g. for the CLI and the benchmark."""
    rng = random.Random(seed)
    specs = []
    for i in range(n):
        evses = []
        for e in range(1, evses_per_station + 1):
            arrival = start_unix + rng.randrange(0, 3600)
            ev = EvModel(
                battery_wh=rng.choice([40_000, 60_000, 77_000]),
                soc_pct=rng.uniform(25, 60),
                max_charge_w=11_000,
                max_discharge_w=rng.choice([7_400, 11_000]),
                arrival_unix=arrival,
                departure_unix=arrival + rng.randrange(4, 12) * 3600,
                round_trip_efficiency=0.9,
                reserve_soc_pct=20,
                target_soc_pct=80,
            )
            evses.append(EvseSpec(evse_id=e, ev=ev))
        key = rng.randbytes(32) if sign else None
        specs.append(
            StationSpec(
                station_id=f"{prefix}{i:05d}",
                password=password,
                protocol=protocol,
                evses=evses,
                private_key=key,
            )
        )
    return specs
