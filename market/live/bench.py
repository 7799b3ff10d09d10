"""``flexmarket bench live``: dispatch latency across processes, from the orders being posted
(the session seen CLEARED) to every station having its charging profile.

A synthetic scenario (seeded) of ``fsps`` FSPs and ``stations`` one-EVSE stations on the
SimBench LV grid the acceptance scenario uses, every EV plugged in from 10:00, one intraday
session (gate 11:45, delivery 12:00-13:00, the midday peak at x2.8 load); run by the live
orchestrator up to dispatch. Latencies are wall seconds per station: its first profile after
clearing minus the moment the orchestrator saw the session cleared (polled every 0.1 s).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

from market.replay.scenario import Scenario

BUSES = [f"LV4.101 Bus {k}" for k in range(1, 45) if k != 27]  # Bus 27 does not exist
GOAL_P99_S = 5.0


def bench_bus(index: int, stations: int) -> str:
    """The ``index``-th station's bus: spread evenly along the bus list, so a run smaller
    than the grid still has stations on every feeder. The DSO requests where the midday peak
    congests (a feeder at the far end of the list); round robin from bus 1 left a small run
    with no station there, so no FSP could offer and no order was ever placed."""
    n = len(BUSES)
    return BUSES[index * n // stations if stations < n else index % n]


def bench_scenario(fsps: int, stations: int, seed: int = 0) -> dict[str, Any]:
    """The scenario document (YAML-able): every station one EV of one FSP (round robin)."""
    rng = random.Random(seed)
    fsp_ids = [f"fsp-{i + 1}" for i in range(fsps)]
    participants = [{"id": "dso", "role": "DSO", "name": "Bench DSO"}]
    participants += [{"id": f, "role": "EMSP", "name": f"Bench {f}"} for f in fsp_ids]
    participants.append({"id": "cpo", "role": "CPO", "name": "Bench CPO"})
    station_rows, evs = [], []
    for s in range(stations):
        sid = f"ST-{s:03d}"
        station_rows.append(
            {
                "id": sid,
                "ocpp": "2.1",
                "bus": bench_bus(s, stations),
                "cpo": "cpo",
                "evses": [{"id": 1, "max_import_w": 7400, "max_export_w": 7400}],
            }
        )
        evs.append(
            {
                "id": f"ev-{s:03d}",
                "fsp": fsp_ids[s % fsps],
                "battery_wh": rng.choice([40_000, 50_000, 62_000]),
                "max_charge_w": 7400,
                "max_discharge_w": 7400,
                "station": sid,
                "arrival": "10:00",
                "departure": "20:00",
                "soc_arrival_pct": rng.randrange(55, 70),
                "target_soc_pct": 75,
                "min_departure_soc_pct": 50,
            }
        )
    return {
        "name": f"bench-live-{fsps}x{stations}",
        "description": "flexmarket bench live: synthetic, seeded",
        "seed": seed,
        "period": {"day": "2026-01-22", "isp_s": 900, "meter_interval_s": 900},
        "grid": {
            "kind": "simbench",
            "code": "1-LV-semiurb4--2-sw",
            "profile_date": "2016-01-22",
            "load_scale_ppm": 2_800_000,
            "pv_scale_ppm": 1_000_000,
        },
        "market": {"pricing": "pay_as_bid", "baseline": "nominated", "challenge_window_s": 600},
        "participants": participants,
        "stations": station_rows,
        "evs": evs,
        "sessions": [
            {
                "id": "intraday-1200",
                "kind": "intraday",
                "gate_closure": "11:45",
                "delivery_start": "12:00",
                "delivery_end": "13:00",
            }
        ],
    }


def write_scenario(folder: Path, doc: dict[str, Any]) -> Path:
    Scenario.model_validate(doc)  # a bad generator is a bug here, not a problem named later
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def shortfall(reached: int, orders: int, expected: int) -> str | None:
    """Why the run measured nothing worth a figure, or None: no order (no congestion, or no
    FSP bid: see the gateways' ``no_bid`` log lines), or fewer stations reached than the
    orders' FSPs have."""
    if orders == 0 or expected == 0:
        return "no order was placed, so no setpoint was dispatched (see logs/fsp-*.log no_bid)"
    if reached < expected:
        return f"{reached} of {expected} stations got a setpoint after clearing"
    return None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def latencies(profile_logs: list[Path], cleared_wall: float) -> dict[str, float]:
    """Per station: seconds from clearing to its first profile received after it."""
    first: dict[str, float] = {}
    for path in profile_logs:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["wall"] >= cleared_wall and row["station"] not in first:
                first[row["station"]] = row["wall"] - cleared_wall
    return first


def summary(
    per_station: dict[str, float], stations: int, fsps: int, orders: int, expected: int
) -> dict[str, Any]:
    """The bench's JSON; ``expected`` is the stations the orders should reach (every station
    of an FSP with an order), and ``failure`` says plainly when they were not all reached."""
    values = list(per_station.values())
    out: dict[str, Any] = {
        "bench": "live",
        "fsps": fsps,
        "stations": stations,
        "orders": orders,
        "stations_expected": expected,
        "stations_with_setpoint": len(values),
        "goal_p99_s": GOAL_P99_S,
    }
    failure = shortfall(len(values), orders, expected)
    if failure:
        out["failure"] = failure
    out.update(spread(values))
    return out


def spread(values: list[float]) -> dict[str, float]:
    """p50, p99 and max (s, to the ms) of a bench's latencies; none of an empty list."""
    if not values:
        return {}
    return {
        "p50_s": round(percentile(values, 50), 3),
        "p99_s": round(percentile(values, 99), 3),
        "max_s": round(max(values), 3),
    }
