"""``flexmarket bench clearing`` prints exactly one JSON object on stdout (progress on stderr).

Lives here because the command is a thin wrapper over clearing.benchmark (owned together).
"""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_clearing_prints_one_json_object() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "market.cli", "bench", "clearing", "--offers", "60", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert out["offers"] == 60
    assert set(out) >= {
        "highs",
        "cbc",
        "greedy",
        "welfare_ratio_greedy_vs_highs",
        "speedup_highs_vs_cbc",
        "peak_rss_mb",
    }
    for key in ("build_s", "solve_s", "total_s", "welfare", "gap"):
        assert key in out["highs"] and key in out["cbc"]
    assert out["highs"]["welfare"] >= out["greedy"]["welfare"]
    assert "generating session" in proc.stderr
    # where HiGHS' time went: its slowest components, slowest first; CBC has no stages
    parts = out["highs"]["parts"]
    assert parts and len(parts) == min(4, out["highs"]["part_count"])
    spent = [p["dive_s"] + p["lns_s"] + p["mip_s"] for p in parts]
    assert spent == sorted(spent, reverse=True) and spent[0] <= out["highs"]["solve_s"]
    assert {p["proven_by"] for p in parts} <= {"dive", "lns", "mip"}
    assert out["cbc"]["parts"] == [] and out["cbc"]["part_count"] == 0


def test_skip_cbc() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "market.cli",
            "bench",
            "clearing",
            "--offers",
            "20",
            "--skip-cbc",
            "--json",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert out["cbc"] is None and out["seed"] == 3


def test_seeds_print_one_line_each_then_a_summary() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "market.cli",
            "bench",
            "clearing",
            "--offers",
            "40",
            "--skip-cbc",
            "--seeds",
            "1-2,5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line.get("seed") for line in lines[:3]] == [1, 2, 5]
    summary = lines[3]
    assert len(lines) == 4 and summary["summary"] is True and summary["seeds"] == [1, 2, 5]
    assert summary["same_orders_under_load"] is True
    assert summary["worst_total_s"] >= summary["median_total_s"] > 0
    assert summary["share_proved_gap"] == 1.0
    assert summary["worst_gap"] <= summary["mip_gap_target"]
    assert summary["safety_net_s"] == 600
    slowest = max(lines[:3], key=lambda line: line["highs"]["total_s"])
    assert summary["worst_seed"] == slowest["seed"]
    assert summary["worst_seed_parts"] == slowest["highs"]["parts"] != []
