"""``flexmarket bench ocpp``: one CSMS process, one simulator process, loopback sockets.

Measures what the market depends on at scale: how fast N stations connect, how many
MeterValues messages per second the CSMS ingests (and that none is lost), how long a fleet-wide
dispatch takes until every station answered, and the CSMS's peak memory.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypedDict

from adapters.ocpp.csms import Csms
from adapters.ocpp.orders import IspSetpoint
from adapters.ocpp.simulator.fleet import StationFleet, random_fleet_specs
from adapters.ocpp.sink import InMemorySink, SqlReadingSink
from clearing.json_limits import restore_recursion_limit

PASSWORD = "bench-secret"
ISP_S = 900


class _CsmsParams(TypedDict):
    """What the CSMS process is started with (plain data: it crosses a spawn boundary)."""

    stations: int
    start: float  # simulated unix time at ``anchor``
    anchor: float  # wall-clock unix time
    speed: float
    interval_s: int
    sign: bool
    db_url: str  # "" = in-memory sink


class _SimParams(_CsmsParams):
    """The simulator process also needs the CSMS's websocket URL."""

    url: str


class AnchoredClock:
    """Simulated time shared by separate processes: ``start`` at wall time ``anchor``."""

    def __init__(self, start: float, anchor: float, speed: float) -> None:
        self.start, self.anchor, self.speed = start, anchor, speed

    def now(self) -> float:
        return self.start + (time.time() - self.anchor) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def raise_open_files_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit (a thousand sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _station_ids(n: int) -> list[str]:
    return [f"CS{i:05d}" for i in range(n)]


# ---------------------------------------------------------------------- CSMS process
def _csms_process(conn: Connection, params: _CsmsParams) -> None:
    restore_recursion_limit()
    raise_open_files_limit()
    asyncio.run(_csms_main(conn, params))


async def _csms_main(conn: Connection, p: _CsmsParams) -> None:
    clock = AnchoredClock(p["start"], p["anchor"], p["speed"])
    sink: SqlReadingSink | InMemorySink = (
        SqlReadingSink(p["db_url"]) if p["db_url"] else InMemorySink()
    )
    csms = Csms(
        credentials=dict.fromkeys(_station_ids(p["stations"]), PASSWORD),
        sink=sink,
        clock=clock,
        meter_interval_s=p["interval_s"],
        call_timeout_s=60.0,
        max_connections_per_ip=None,  # every simulated station comes from loopback
    )
    await csms.start()
    conn.send(("port", csms.port))
    loop = asyncio.get_running_loop()
    rnd = 0
    while True:
        cmd = await loop.run_in_executor(None, conn.recv)
        if cmd == "count":
            conn.send((csms.stats["meter_msgs"], time.monotonic()))
        elif cmd == "dispatch":
            rnd += 1
            isp0 = (int(clock.now()) // ISP_S + 2) * ISP_S
            schedules = {
                (sid, 1): [
                    IspSetpoint(isp0 + k * ISP_S, ISP_S, ((i + k + rnd) % 7 - 3) * 2000)
                    for k in range(4)
                ]
                for i, sid in enumerate(_station_ids(p["stations"]))
            }
            t0 = time.monotonic()
            result = await csms.dispatcher.dispatch(schedules)
            wall = time.monotonic() - t0
            latencies = []
            statuses: dict[str, int] = {}
            for key, isps in result.items():
                order = csms.dispatcher.order(*key)
                if order is not None and order.answered_after_s is not None:
                    latencies.append(order.answered_after_s)
                statuses[isps[0].status.value] = statuses.get(isps[0].status.value, 0) + 1
            conn.send((latencies, statuses, wall))
        elif cmd == "stop":
            await csms.stop()
            stored = sink.count() if isinstance(sink, SqlReadingSink) else len(sink.readings)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            conn.send((stored, peak_mb, dict(csms.stats)))
            return


# ---------------------------------------------------------------------- simulator process
def _sim_process(conn: Connection, params: _SimParams) -> None:
    raise_open_files_limit()
    asyncio.run(_sim_main(conn, params))


async def _sim_main(conn: Connection, p: _SimParams) -> None:
    clock = AnchoredClock(p["start"], p["anchor"], p["speed"])
    specs = random_fleet_specs(
        p["stations"], start_unix=int(p["start"]), sign=p["sign"], password=PASSWORD
    )
    fleet = StationFleet(
        p["url"], specs, clock=clock, meter_interval_s=p["interval_s"], call_timeout_s=120.0
    )
    try:
        connect_s = await fleet.start(timeout_s=300)
    except TimeoutError as exc:
        conn.send(("error", str(exc)))
        await fleet.stop()
        return
    conn.send(("booted", connect_s))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)
    await fleet.stop()
    errors = sum(len(s.errors) for s in fleet.stations.values())
    conn.send((fleet.readings_sent, errors))


# ---------------------------------------------------------------------- driver
def _recv(conn: Connection, what: str, timeout_s: float = 600.0) -> Any:
    if not conn.poll(timeout_s):
        raise TimeoutError(f"bench: no answer from the {what} process within {timeout_s} s")
    return conn.recv()


def run_ocpp_bench(
    stations: int,
    *,
    window_s: float = 20.0,
    speed: float = 150.0,
    interval_s: int = 60,
    dispatch_rounds: int = 3,
    sql_sink: bool = True,
    sign: bool = True,
) -> dict[str, Any]:
    """Run the benchmark and return the JSON-able result dict."""
    if stations <= 0:
        raise ValueError(f"stations: must be > 0, got {stations}")
    raise_open_files_limit()
    ctx = mp.get_context("spawn")
    anchor = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        params: _CsmsParams = {
            "stations": stations,
            "start": float(int(anchor)),
            "anchor": anchor,
            "speed": speed,
            "interval_s": interval_s,
            "sign": sign,
            "db_url": f"sqlite:///{Path(tmp) / 'readings.db'}" if sql_sink else "",
        }
        csms_conn, csms_child = ctx.Pipe()
        csms_proc = ctx.Process(target=_csms_process, args=(csms_child, params), daemon=True)
        csms_proc.start()
        _, port = _recv(csms_conn, "CSMS", 60)
        sim_conn, sim_child = ctx.Pipe()
        sim_params: _SimParams = {**params, "url": f"ws://127.0.0.1:{port}"}
        sim_proc = ctx.Process(target=_sim_process, args=(sim_child, sim_params), daemon=True)
        try:
            sim_proc.start()
            kind, connect_s = _recv(sim_conn, "simulator", 400)
            if kind != "booted":
                raise RuntimeError(f"simulator failed: {connect_s}")
            time.sleep(2.0)  # let the first samples settle
            csms_conn.send("count")
            c0, t0 = _recv(csms_conn, "CSMS")
            time.sleep(window_s)
            csms_conn.send("count")
            c1, t1 = _recv(csms_conn, "CSMS")
            latencies: list[float] = []
            statuses: dict[str, int] = {}
            for _ in range(dispatch_rounds):
                csms_conn.send("dispatch")
                lat, st, _wall = _recv(csms_conn, "CSMS")
                latencies += lat
                for k, v in st.items():
                    statuses[k] = statuses.get(k, 0) + v
                time.sleep(1.0)
            sim_conn.send("stop")
            readings_sent, station_errors = _recv(sim_conn, "simulator")
            csms_conn.send("stop")
            stored, peak_mb, stats = _recv(csms_conn, "CSMS")
        finally:
            for proc in (sim_proc, csms_proc):
                proc.join(timeout=20)
                if proc.is_alive():
                    proc.terminate()
    latencies.sort()
    p99_index = min(len(latencies) - 1, max(0, round(0.99 * len(latencies)) - 1))
    return {
        "stations": stations,
        "connect_s": round(connect_s, 3),
        "meter_msgs_per_s": round((c1 - c0) / (t1 - t0), 1),
        "readings_sent": readings_sent,
        "readings_stored": stored,
        "dispatch_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "dispatch_p99_s": round(latencies[p99_index], 3) if latencies else None,
        "csms_peak_rss_mb": round(peak_mb, 1),
        "dispatch_answers": len(latencies),
        "dispatch_statuses": statuses,
        "station_errors": station_errors,
        "bad_frames": stats.get("bad_frames", 0),
        "window_s": window_s,
        "speed": speed,
        "meter_interval_s": interval_s,
        "sink": "sqlite" if sql_sink else "memory",
        "signed": sign,
    }
