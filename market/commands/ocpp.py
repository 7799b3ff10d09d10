"""OCPP commands: ``sim stations`` (simulated fleet), ``bench ocpp``; ``csms`` is in csms.py.

Registered in market/commands/sim.py and market/commands/bench.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import typer


def sim_stations(
    url: str = typer.Option(..., help="CSMS base URL, e.g. ws://127.0.0.1:9000"),
    count: int = typer.Option(10, help="Number of stations."),
    protocol: str = typer.Option("ocpp2.1", help="ocpp2.1 | ocpp2.0.1 | ocpp1.6"),
    evses: int = typer.Option(1, help="EVSEs per station."),
    password: str = typer.Option("secret", help="Basic-auth password."),
    speed: float = typer.Option(60.0, help="Simulated seconds per wall second."),
    duration_s: int = typer.Option(3600, help="Simulated seconds to run."),
    meter_interval_s: int = typer.Option(60, help="Meter sample interval (simulated s)."),
    seed: int = typer.Option(0, help="Seed for the EV population."),
    sign: bool = typer.Option(True, help="Sign meter values with each station's key."),
) -> None:
    """Run simulated V2G stations against a CSMS, then print a JSON summary."""
    from adapters.clock import SimulatedClock
    from adapters.ocpp.bench import raise_open_files_limit
    from adapters.ocpp.simulator.fleet import StationFleet, random_fleet_specs

    raise_open_files_limit()

    async def main() -> dict[str, Any]:
        start = int(time.time())
        clock = SimulatedClock(start=start, speed=speed)
        specs = random_fleet_specs(
            count,
            start_unix=start,
            protocol=protocol,
            evses_per_station=evses,
            seed=seed,
            sign=sign,
            password=password,
        )
        fleet = StationFleet(url, specs, clock=clock, meter_interval_s=meter_interval_s)
        connect_s = await fleet.start()
        await clock.sleep(duration_s)
        await fleet.stop()
        return {
            "stations": count,
            "connect_s": round(connect_s, 3),
            "readings_sent": fleet.readings_sent,
            "simulated_s": duration_s,
        }

    typer.echo(json.dumps(asyncio.run(main())))


def bench_ocpp(
    stations: int = typer.Option(1000, help="Simulated stations."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON only."),
    window_s: float = typer.Option(20.0, help="Wall seconds of steady metering measured."),
    speed: float = typer.Option(150.0, help="Simulated seconds per wall second."),
    meter_interval_s: int = typer.Option(60, help="Meter interval (simulated s)."),
    dispatch_rounds: int = typer.Option(3, help="Fleet-wide dispatch rounds."),
    sqlite: bool = typer.Option(True, help="Store readings in SQLite (else in memory)."),
    sign: bool = typer.Option(True, help="Stations sign their meter values."),
) -> None:
    """CSMS process + simulator process on loopback; prints one JSON object."""
    from adapters.ocpp.bench import run_ocpp_bench

    result = run_ocpp_bench(
        stations,
        window_s=window_s,
        speed=speed,
        interval_s=meter_interval_s,
        dispatch_rounds=dispatch_rounds,
        sql_sink=sqlite,
        sign=sign,
    )
    if json_out:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>20}: {value}")
