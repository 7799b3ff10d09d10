"""``flexmarket live`` on the acceptance scenario (issue 15 item 8): every role its own OS
process, the audit of the kept chain passing, no process left afterwards, and (the
acceptance) the settlement figures compared with ``replay`` on the same scenario."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scripts" / "scenarios" / "uc4-1-isle-of-wight.yaml"
ROLES = {
    "anvil",
    "market",
    "market-worker",
    "dso",
    "fsp-flow-emsp",
    "stations-flow-emsp",
    "auditor",
}


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def lived(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("live")
    proc = subprocess.run(
        [sys.executable, "-m", "market.cli", "live", str(SCENARIO), "--report", str(folder)],
        capture_output=True,
        text=True,
        timeout=1500,
        env=_env(),
        check=False,
    )
    return proc, folder


def test_live_runs_each_role_as_its_own_process_and_the_audit_passes(lived) -> None:
    proc, folder = lived
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert summary["audit"] == "pass"
    pids = json.loads((folder / "processes.json").read_text())
    assert set(pids) == ROLES
    assert len(set(pids.values())) == len(pids) and os.getpid() not in pids.values()
    assert not [role for role, pid in pids.items() if _alive(pid)]  # nothing left running
    for role in ROLES - {"anvil"}:
        assert (folder / "logs" / f"{role}.log").stat().st_size > 0, role
    report = json.loads((folder / "report.json").read_text())
    assert report["audit"]["passed"] and report["audit"]["sessions"] == 1
    assert report["chain_state"] == "chain-state.json" and (folder / "chain-state.json").exists()
    (session,) = report["sessions"].values()
    assert session["state"] == "FINAL" and session["requests"] == 1
    assert "live: day-ahead: delivery 96/96 ISPs" in proc.stderr
    # the DSO gateway wrote its statement of the session
    assert (folder / "dso-out" / "statements" / f"{session['session_id']}.json").exists()


def _money(report: dict[str, Any]) -> dict[str, Any]:
    """Per session: the on-chain payouts and refunds, and per party what it paid and received
    on-chain (the replay's ``payments`` also split the FSP's revenue over its contracts, an
    off-chain clearing-house figure that live does not compute)."""
    out: dict[str, Any] = {}
    for sid, s in report["sessions"].items():
        party: dict[str, int] = {}
        for line in s["payouts"]:
            party[line["fsp"]] = party.get(line["fsp"], 0) + line["payout_units"]
        out[sid] = {"payouts": s["payouts"], "refunds": s["refunds"], "received": party}
    return out


def _netting(report: dict[str, Any]) -> dict[str, Any]:
    """The clearing house's outcome per party (issue 19): what its statements credit it, what
    it withdrew or may withdraw on-chain, and what the chain still records as owed."""
    section = report["clearing_house"]
    assert section["settled_on_chain"]
    parties = {}
    for p in section["parties"]:
        assert p["statement_units"] == p["withdrawable_units"] + p["receivable_units"], p
        parties[p["address"]] = (
            p["role"],
            p["statement_units"],
            p["withdrawable_units"],
            p["receivable_units"],
        )
    return parties


def test_live_settlement_equals_replay(lived, replayed) -> None:
    """The FSP gateway plans the stays the scenario announces, as the replay's FSP does; its
    revenue-sharing contracts and contributions are netted on-chain as the replay's are."""
    _, folder = lived
    live = json.loads((folder / "report.json").read_text())
    replay, _ = replayed("uc4-1-isle-of-wight")
    assert _money(live) == _money(replay)
    netting = _netting(live)
    assert netting == _netting(replay)
    roles = {role for role, *_ in netting.values()}
    assert {"EV_USER", "CPO", "FLEET_OPERATOR", "PLATFORM"} <= roles  # paid by the netting


INTRADAY = ROOT / "scripts" / "scenarios" / "uc4-3-terni-intraday.yaml"


def test_live_intraday_settlement_equals_replay(tmp_path: Path, replayed) -> None:
    """Day-ahead then two intraday sessions: EVs plugged in during the first intraday session
    are planned for the second from what their chargers reported when it opened, the same
    report in live (the FSP gateway's CSMS) and in the replay (the replay's CSMS)."""
    proc = subprocess.run(
        [sys.executable, "-m", "market.cli", "live", str(INTRADAY), "--report", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1500,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    live = json.loads((tmp_path / "report.json").read_text())
    replay, _ = replayed("uc4-3-terni-intraday")
    assert len(live["sessions"]) == 3
    assert _money(live) == _money(replay)
    assert _netting(live) == _netting(replay)


def test_ctrl_c_stops_every_role(tmp_path: Path) -> None:
    """SIGINT while the roles run: exit 130, one line, and no process of the run left."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "market.cli", "live", str(SCENARIO), "--report", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    pids: dict[str, int] = {}
    deadline = time.monotonic() + 300
    while not {"market", "dso", "fsp-flow-emsp", "stations-flow-emsp"} <= set(pids):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the roles did not start"
        time.sleep(0.5)
        path = tmp_path / "processes.json"
        if path.exists():
            try:
                pids = json.loads(path.read_text())
            except ValueError:
                pids = {}
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "interrupted: every role was stopped" in err
    deadline = time.monotonic() + 15
    while [r for r, p in pids.items() if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [r for r, p in pids.items() if _alive(p)]
