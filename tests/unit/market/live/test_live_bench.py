"""bench live's pieces: the synthetic scenario is a valid scenario whose every EV is plugged
in before the session opens, and latencies are each station's first profile after clearing."""

from __future__ import annotations

import json
from pathlib import Path

from market.live.bench import bench_scenario, latencies, percentile, summary, write_scenario
from market.replay.scenario import Scenario


def test_scenario_is_valid_with_every_ev_plugged_before_the_session_opens(tmp_path: Path) -> None:
    doc = bench_scenario(fsps=3, stations=7, seed=1)
    sc = Scenario.model_validate(doc)
    assert write_scenario(tmp_path, doc).exists()
    assert len(sc.stations) == 7 and len(sc.evs) == 7
    assert {e.fsp for e in sc.evs} == {"fsp-1", "fsp-2", "fsp-3"}
    (session,) = sc.sessions
    opens = sc.at(session.gate_closure) - 3600  # when live opens it
    assert all(sc.at(e.arrival) <= opens and sc.at(e.departure) > sc.at(session.delivery_end)
               for e in sc.evs)  # fmt: skip


def test_latencies_count_each_stations_first_profile_after_clearing(tmp_path: Path) -> None:
    log = tmp_path / "profiles.jsonl"
    rows = [
        {"station": "A", "evse": 1, "profile": 1, "wall": 99.0},  # before clearing: not counted
        {"station": "A", "evse": 1, "profile": 2, "wall": 100.5},
        {"station": "A", "evse": 1, "profile": 3, "wall": 104.0},
        {"station": "B", "evse": 1, "profile": 1, "wall": 102.0},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = latencies([log, tmp_path / "missing.jsonl"], cleared_wall=100.0)
    assert got == {"A": 0.5, "B": 2.0}
    out = summary(got, stations=3, fsps=1, orders=2, expected=3)
    assert out["stations_with_setpoint"] == 2 and out["p50_s"] == 0.5 and out["p99_s"] == 2.0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_a_small_run_has_stations_of_both_fsps_on_every_feeder(tmp_path: Path) -> None:
    """The DSO requests at the feeder the midday peak congests (the far end of the bus
    list); bench live --fsps 2 --stations 10 once put every station on the first ten buses,
    so no FSP had an EV where the request was and no order (and no setpoint) ever came."""
    from market.replay.grid import check_scenario

    path = write_scenario(tmp_path, bench_scenario(fsps=2, stations=10))
    sc, grid = check_scenario(path)
    fsp_of = {e.station: e.fsp for e in sc.evs}
    feeders = {p.cp_id for p in grid.points if p.kind == "feeder"}
    at = {cp: {fsp_of[st] for st, c in grid.station_point.items() if c == cp} for cp in feeders}
    assert len(feeders) >= 3 and all(at[cp] for cp in feeders), at
    assert sum(1 for v in at.values() if v == {"fsp-1", "fsp-2"}) >= 2, at
