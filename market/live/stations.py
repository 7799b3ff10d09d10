"""The simulated stations of one FSP as a process of their own, on the chain's clock.

Run by ``flexmarket live`` as ``python -m market.live.stations``: the stations the replay would
simulate (same specs, keys, passwords and meter registers) for the stations whose EVs belong to
one FSP, connected over websockets to that FSP's CSMS. Their clock is the chain's latest block
time (:class:`adapters.clock.ChainTimeClock`), so they sample a meter interval exactly when the
orchestrator has warped the chain past it. Passwords come from the environment only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from adapters.clock import ChainTimeClock
from adapters.ocpp.simulator.fleet import StationFleet
from adapters.ocpp.simulator.spec import StationSpec
from market.live.configs import password_env, station_owners
from market.replay.grid import check_scenario, load_replay_grid
from market.replay.history import meter_history
from market.replay.scenario import Scenario
from market.replay.world import station_specs, stays

FAILURE_POLL_S = 1.0  # how often the process looks for a station that stopped with an error


def fsp_station_specs(scenario: Scenario, fsp: str, passwords: dict[str, str]) -> list[StationSpec]:
    """The replay's station specs of the stations ``fsp``'s EVs park at; each password from
    ``passwords`` (by station id), never derived here."""
    all_stays = stays(scenario)
    owners = station_owners(scenario, all_stays)
    mine = [s for s in all_stays if owners[s.station] == fsp]
    grid = load_replay_grid(scenario)
    registers = meter_history(scenario, grid, all_stays).registers
    out = []
    for spec in station_specs(scenario, mine, registers):
        spec.password = passwords[spec.station_id]
        out.append(spec)
    return out


async def _log_profiles(fleet: StationFleet, path: Path, stop: asyncio.Event) -> None:
    """One JSON line per charging profile a station received, with the wall time it was
    seen (polled every 5 ms): what ``bench live`` measures dispatch latency with."""
    seen = dict.fromkeys(fleet.stations, 0)
    with path.open("a") as out:
        while not stop.is_set():
            wall = time.time()
            for sid, station in fleet.stations.items():
                got = station.profiles_received
                for evse_id, profile_id in got[seen[sid] :]:
                    row = {"station": sid, "evse": evse_id, "profile": profile_id, "wall": wall}
                    out.write(json.dumps(row) + "\n")
                seen[sid] = len(got)
            out.flush()
            await asyncio.sleep(0.005)


async def _run(
    url: str,
    rpc_url: str,
    specs: list[StationSpec],
    meter_interval_s: int,
    profiles_log: Path | None = None,
) -> int:
    """Run the fleet until SIGTERM (0) or until a station's run ends with an error (1)."""
    clock = ChainTimeClock(rpc_url)
    fleet = StationFleet(url, specs, clock=clock, meter_interval_s=meter_interval_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connect_s = await fleet.start(timeout_s=180.0)
    print(json.dumps({"event": "connected", "stations": len(specs), "connect_s": connect_s}))
    sys.stdout.flush()
    logger = (
        asyncio.get_running_loop().create_task(_log_profiles(fleet, profiles_log, stop))
        if profiles_log is not None
        else None
    )
    failed: dict[str, BaseException] = {}
    while not stop.is_set() and not (failed := fleet.failures()):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FAILURE_POLL_S)
    stop.set()
    if logger is not None:
        await logger
    with contextlib.suppress(Exception):
        await fleet.stop()
    print(json.dumps({"event": "stopped", "readings_sent": fleet.readings_sent}), flush=True)
    for sid, exc in failed.items():  # the orchestrator's supervisor shows this, not a timeout
        print(f"error: station {sid} stopped: {exc!r}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m market.live.stations",
        description="One FSP's simulated stations (from a scenario) on the chain's clock.",
    )
    parser.add_argument("scenario")
    parser.add_argument("--fsp", required=True, help="The FSP whose stations these are.")
    parser.add_argument("--url", required=True, help="The FSP's CSMS, ws://host:port.")
    parser.add_argument("--rpc", required=True, help="The chain whose time the stations follow.")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--profiles-log", type=Path, default=None, help="JSON lines (bench).")
    args = parser.parse_args(argv)
    scenario, _ = check_scenario(args.scenario)
    if args.seed is not None:
        scenario = scenario.model_copy(update={"seed": args.seed})
    ids = sorted(s.id for s in scenario.stations)
    passwords = {sid: os.environ.get(password_env(i), "") for i, sid in enumerate(ids)}
    specs = fsp_station_specs(scenario, args.fsp, passwords)
    missing = [s.station_id for s in specs if not s.password]
    if missing:
        print(f"error: {password_env(ids.index(missing[0]))}: not set", file=sys.stderr)
        return 1
    interval = scenario.period.meter_interval_s
    return asyncio.run(_run(args.url, args.rpc, specs, interval, args.profiles_log))


if __name__ == "__main__":
    raise SystemExit(main())
