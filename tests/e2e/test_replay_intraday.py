"""A market day traded day-ahead and intraday (issue 15 item 7): the bundled
uc4-3-terni-intraday scenario replayed end to end, its intraday session's gate closing 15
minutes before delivery, cleared within seconds, delivered, paid, FINAL on-chain and audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
NAME = "uc4-3-terni-intraday"


def _by_kind(report: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(sid, s) for sid, s in sorted(report["sessions"].items()) if s["kind"] == kind]


def test_day_ahead_and_intraday_sessions_both_complete(replayed) -> None:
    report, _ = replayed(NAME)
    assert report["audit"]["passed"] is True, report["audit"]
    assert not [f for f in report["findings"] if f.startswith("audit:")]
    ((_, day_ahead),) = _by_kind(report, "day_ahead")
    intraday_sessions = _by_kind(report, "intraday")
    assert len(intraday_sessions) == 2  # the rolling schedule: 11:45 and 14:45
    for _, session in intraday_sessions:
        assert day_ahead["gate_closure"] < session["gate_closure"]
        # each intraday gate closes 15 minutes before its delivery starts
        assert session["delivery_start"] - session["gate_closure"] == 15 * 60
    # the midday hour: congestion the DSO forecast near real time
    intraday_id, intraday = intraday_sessions[0]
    # the DSO bought flexibility from its forecast of that hour, and the market cleared it
    assert intraday["requests"] >= 1 and intraday["orders"] >= 1
    assert report["timing"]["sessions"][intraday_id]["clearing_s"] < 10
    # delivered, paid and withdrawn
    assert intraday["payouts"] and all(p["payout_units"] > 0 for p in intraday["payouts"])
    paid: dict[str, int] = {}
    for p in intraday["payouts"]:
        paid[p["fsp"]] = paid.get(p["fsp"], 0) + p["payout_units"]
    # every FSP withdrew exactly what it was paid plus its on-chain netting position (netting
    # is on by default: an FSP that shares revenue withdraws its payout less what it shares;
    # the DSO withdraws its unspent escrow too)
    onchain = intraday.get("netting", {}).get("onchain_net_units", {})
    withdrawn = {fsp: intraday["withdrawn_units"][fsp] for fsp in paid}
    assert withdrawn == {fsp: amount + onchain.get(fsp, 0) for fsp, amount in paid.items()}
    congestion = intraday["congestion"]
    assert sum(len(c["violation_isps_before"]) for c in congestion.values()) > sum(
        len(c["violation_isps_after"]) for c in congestion.values()
    )


def test_the_kept_chain_shows_every_session_final(replayed) -> None:
    report, folder = replayed(NAME)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "market.cli",
            "audit",
            "--state",
            str(folder / "chain-state.json"),
            "--bundles",
            str(folder),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    states = {s["session_id"]: s["state"] for s in json.loads(audit.stdout)["sessions"]}
    assert len(states) == 3
    assert states == {s["session_id"]: "FINAL" for s in report["sessions"].values()}
    for sid, session in _by_kind(report, "intraday"):
        assert states[session["session_id"]] == "FINAL", sid
