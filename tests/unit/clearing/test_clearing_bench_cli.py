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
