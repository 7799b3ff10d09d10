"""``flexmarket bench intraday`` in miniature: real anvil, the market (serve and worker), two
FSP gateways and their stations as processes, real HiGHS; the bench requests, every gateway
offers on every request, and after gate closure each gateway with orders has them verified
against the on-chain root. The figures are the bench's (no goal asserted at this size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[4]


def test_bench_intraday_measures_gate_closure_to_orders_at_the_gateways(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "market.cli",
            "bench",
            "intraday",
            "--offers",
            "8",
            "--fsps",
            "2",
            "--stations",
            "10",
            "--report",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=800,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    out = json.loads(proc.stdout)
    assert out["bench"] == "intraday" and out["requests"] >= 1
    assert out["offers"] == 8 and out["orders"] >= out["requests"]
    assert out["gateways_with_all_orders"] == out["gateways_with_orders"] >= 1
    assert 0 < out["p50_s"] <= out["p99_s"] <= out["max_s"] <= out["goal_s"]
    phases = out["phases"]
    assert set(phases) == {
        "close_s",
        "roots_read_s",
        "receipts_s",
        "close_tx_s",
        "input_s",
        "solve_s",
        "clearing_s",
        "commit_s",
        "orders_published_s",
        "order_delivery_s",
    }
    assert phases["clearing_s"] > 0 and phases["commit_s"] > 0
    assert 0 < phases["receipts_s"] + phases["close_tx_s"] <= phases["close_s"]
    assert 0 < phases["input_s"] + phases["solve_s"] <= phases["clearing_s"]
    assert phases["close_s"] <= phases["orders_published_s"] <= out["max_s"]
    assert json.loads((tmp_path / "bench.json").read_text())["offers"] == 8
    assert "dso" not in out["processes"]  # the bench is the requester
    assert {"anvil", "market", "fsp-fsp-1", "fsp-fsp-2"} <= set(out["processes"])
