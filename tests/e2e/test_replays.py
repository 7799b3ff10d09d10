"""The three DriVe2X use-case scenarios, replayed end to end over real anvil, HTTP and OCPP.

Each replay must relieve the congestion it was built around, pay in line with metered
delivery, leave no EV below its departure SoC without a named cause, and pass the audit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from replay_cases import SCENARIOS, UC_SCENARIOS

from clearing.settlement.delivery import DeliveryReport
from market.replay.runner import ReplayOptions, run_replay

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


def _session(report: dict[str, Any]) -> dict[str, Any]:
    (session,) = report["sessions"].values()
    return session


@pytest.mark.parametrize("name", UC_SCENARIOS)
def test_congestion_is_relieved(replayed, name: str) -> None:
    report, _ = replayed(name)
    congestion = _session(report)["congestion"]
    congested = {cp: c for cp, c in congestion.items() if c["violation_isps_before"]}
    assert congested, "the scenario must create congestion to relieve"
    for cp, c in congested.items():
        assert set(c["violation_isps_after"]) < set(c["violation_isps_before"]), cp
        assert c["max_loading_permille_after"] < c["max_loading_permille_before"], cp
    assert report["total"]["violation_isps_after"] == 0


@pytest.mark.parametrize("name", UC_SCENARIOS)
def test_payouts_are_consistent_with_delivery(replayed, name: str) -> None:
    report, folder = replayed(name)
    session = _session(report)
    payouts = session["payouts"]
    assert payouts and all(0 < p["payout_units"] <= p["reserved_units"] for p in payouts)
    delivery_file = folder / "bundles" / session["session_id"] / "delivery.json"
    body = json.loads(delivery_file.read_text())["report"]
    delivery = DeliveryReport.model_validate_json(json.dumps(body))
    # what was attested on-chain is exactly the published delivery report
    assert session["roots"]["delivery_root"] == delivery.root
    assert session["roots"]["payouts_onchain"] == delivery.payout_vector()
    for order in delivery.orders:
        credited_wh = sum(i.credited_w for i in order.isps) * 900 // 3600
        # paid for credited energy at the order's price, less any penalty, within the cap
        assert order.payout_units <= order.payment_cap_units
        assert order.payout_units <= credited_wh * order.price_per_mwh // 1_000_000 + 1
    delivered = sum(session["delivered_wh"].values())
    awarded = sum(session["awarded_wh"].values())
    assert awarded > 0 and delivered >= awarded * 95 // 100
    # every FSP withdrew exactly what it was paid, plus its on-chain netting position (netting
    # is on by default: an FSP that shares revenue withdraws its payout less what it shares)
    onchain = session.get("netting", {}).get("onchain_net_units", {})
    by_fsp: dict[str, int] = {}
    for p in payouts:
        by_fsp[p["fsp"]] = by_fsp.get(p["fsp"], 0) + p["payout_units"]
    for fsp, amount in by_fsp.items():
        assert session["withdrawn_units"][fsp] == amount + onchain.get(fsp, 0)


@pytest.mark.parametrize("name", UC_SCENARIOS)
def test_the_default_replay_settles_on_chain(replayed, name: str) -> None:
    """Netting is on by default (issue 19): each party's statement is what it could withdraw
    on-chain plus what the chain still records as owed to it (minus what it owes)."""
    house = replayed(name)[0]["clearing_house"]
    assert house["settled_on_chain"] is True
    for party in house["parties"]:
        assert party["statement_units"] == (
            party["withdrawable_units"] + party["receivable_units"]
        ), party


@pytest.mark.parametrize("name", UC_SCENARIOS)
def test_no_unexplained_soc_violation(replayed, name: str) -> None:
    report, _ = replayed(name)
    violations = _session(report)["soc_violations"]
    assert all(v["cause"] != "unexplained" for v in violations), violations
    assert report["total"]["soc_violations_unexplained"] == 0


@pytest.mark.parametrize("name", UC_SCENARIOS)
def test_audit_passes(replayed, name: str) -> None:
    report, _ = replayed(name)
    audit = report["audit"]
    assert audit["available"], f"the replay could not run the auditor: {audit.get('reason')}"
    assert audit["passed"], audit


@pytest.mark.parametrize("name", UC_SCENARIOS)
def test_every_session_committed_its_cpos_readings_digests(replayed, name: str) -> None:
    """The replay runs under terms requiring readings digests: each session's CPO-signed
    digests are published and cover every station of the scenario (issue 16 item 4)."""
    from clearing.readings_digest import parse_bundle

    _report, folder = replayed(name)
    sessions = [d for d in (folder / "bundles").iterdir() if (d / "delivery.json").is_file()]
    assert sessions
    for d in sessions:
        terms = json.loads((d / "terms.json").read_bytes())
        assert terms["readings_digests_required"] is True
        bundle = parse_bundle(json.loads((d / "readings.json").read_bytes()))
        assert bundle.digests and all(x.session_id == d.name for x in bundle.digests)


def test_forged_reading_is_refused_and_named(replayed) -> None:
    import sqlite3

    report, folder = replayed("uc4-1-isle-of-wight")
    findings = _session(report)["findings"]
    refused = [f for f in findings if f.startswith("forged reading IOW-V2G-3/")]
    assert refused and all(f.endswith("refused: 422 body.signature") for f in refused), findings
    with sqlite3.connect(folder / "market.db") as db:  # nothing of it was stored
        (stored,) = db.execute(
            "SELECT count(*) FROM meter_readings WHERE import_wh = 1000000000"
        ).fetchone()
    assert stored == 0


def test_same_scenario_and_seed_give_identical_report_and_roots(replayed, tmp_path) -> None:
    report, folder = replayed("uc4-3-terni-city")
    again = run_replay(SCENARIOS / "uc4-3-terni-city.yaml", ReplayOptions(report_dir=tmp_path))
    assert (tmp_path / "report.json").read_bytes() == (folder / "report.json").read_bytes()
    for kept in ("chain-state.json", "deployment.json"):  # the kept chain too
        assert (tmp_path / kept).read_bytes() == (folder / kept).read_bytes(), kept
    assert _session(again)["roots"] == _session(report)["roots"]
    for kind in ("input", "result", "delivery"):
        sid = _session(report)["session_id"]
        first = (folder / "bundles" / sid / f"{kind}.json").read_bytes()
        assert (tmp_path / "bundles" / sid / f"{kind}.json").read_bytes() == first
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert "total_wall_s" in timing
    phases = {"setup", "open", "gate_closure", "dispatch", "delivery", "verify", "final"}
    assert phases | {"report", "audit"} == set(timing["phases"])
    assert len(timing["largest_phases"]) == 3 and timing["peak_rss_mb"] > 0


def test_report_html_plots_load_in_headless_chromium(replayed, tmp_path) -> None:
    _, folder = replayed("uc5-terni-microgrid")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed")
        pytest.skip("chromium not installed")
    page = folder / "report.html"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    images = re.findall(r"<img[^>]*class=\"plot\"[^>]*>", dom)
    assert len(images) >= 4  # loading, power, SoC, money
    assert all('data-rendered="yes"' in img for img in images), images


def test_malformed_scenario_lists_every_problem_before_starting(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from market.cli import app

    text = (SCENARIOS / "uc5-terni-microgrid.yaml").read_text()
    text = text.replace('ocpp: "2.0.1"', 'ocpp: "1.9"', 1)  # unknown OCPP version
    text = text.replace('bus: "LV4.101 Bus 42"', 'bus: "LV4.101 Bus 999"', 1)  # unknown bus
    text = text.replace('arrival: "07:30", departure: "12:30"', 'arrival: "13:30", departure: '
                        '"12:30"', 1)  # fmt: skip  # departs before it arrives
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["replay", str(bad), "--report", str(out)])
    assert result.exit_code == 2, result.output
    for path in ("stations[2].ocpp", "stations[1].bus", "evs[0].departure"):
        assert path in result.output, result.output
    assert not out.exists()  # nothing started


def test_a_station_ignoring_its_profile_is_paid_only_for_what_it_delivered(tmp_path) -> None:
    text = (SCENARIOS / "uc5-terni-microgrid.yaml").read_text()
    fault = '{kind: ignore_profile, station: TERNI-DC-1, at: "00:00"}'
    text = text.replace("faults: []", f"faults:\n  - {fault}")
    scenario = tmp_path / "uc5-ignore.yaml"
    scenario.write_text(text)
    report = run_replay(scenario, ReplayOptions(report_dir=tmp_path / "report"))
    session = _session(report)
    assert sum(session["delivered_wh"].values()) < sum(session["awarded_wh"].values())
    (payout,) = session["payouts"]
    assert payout["payout_units"] < payout["reserved_units"]
    assert all(v["cause"] != "unexplained" for v in session["soc_violations"])
    if report["audit"]["available"]:
        assert report["audit"]["passed"], report["audit"]


def test_revenue_sharing_is_netted_on_chain_and_withdrawn(replayed, tmp_path) -> None:
    # netting is on by default; --no-netting computes the same period off-chain only
    report, netted_dir = replayed("uc5-terni-microgrid")
    off_options = ReplayOptions(report_dir=tmp_path, netting=False, audit=False)
    off_report = run_replay(SCENARIOS / "uc5-terni-microgrid.yaml", off_options)
    session = _session(report)
    netting = session["netting"]
    positions = netting["onchain_net_units"]
    assert sum(positions.values()) + netting["fee_units"] == 0  # settleNetting's invariant
    # without netting the report shows the same clearing-house period, computed off-chain
    implied = _session(off_report)
    assert "netting" not in implied
    assert implied["payments"] == session["payments"]
    assert positions["asm-fleet"] > 0 and positions["asm-cpo"] > 0 and positions["emot"] < 0
    for member, amount in positions.items():
        if amount > 0 and member != "emot":
            assert session["withdrawn_units"][member] == amount
    # the FSP keeps its payout minus what it shares
    payout = sum(p["payout_units"] for p in session["payouts"])
    assert session["withdrawn_units"]["emot"] == payout + positions["emot"]
    # report.html says money was settled off-chain only when it was (the --no-netting replay)
    assert "Settled off-chain" not in (netted_dir / "report.html").read_text()
    assert "Settled off-chain" in (tmp_path / "report.html").read_text()
    # clearing_house: netted on-chain, every party withdrew exactly what its statements say
    # (less what the chain still records as owed to it, plus what it owes: none here)
    house = report["clearing_house"]
    assert house["settled_on_chain"] is True
    roles = {p["role"] for p in house["parties"]}
    assert {"DSO", "EMSP", "FLEET_OPERATOR", "CPO", "EV_USER", "PLATFORM"} <= roles
    for party in house["parties"]:
        assert party["statement_units"] == party["withdrawable_units"], party
        assert party["receivable_units"] == 0, party
    ev_users = [p for p in house["parties"] if p["role"] == "EV_USER"]
    assert any(p["statement_units"] > 0 for p in ev_users)
    # with --no-netting: not settled on-chain, the EV users' statements never moved
    off = off_report["clearing_house"]
    assert off["settled_on_chain"] is False
    assert [p["withdrawable_units"] for p in off["parties"] if p["role"] == "EV_USER"] == [0] * len(
        [p for p in off["parties"] if p["role"] == "EV_USER"]
    )
    assert any(p["statement_units"] > 0 for p in off["parties"] if p["role"] == "EV_USER")
    assert "clearing-house-off-chain" in (tmp_path / "report.html").read_text()
    assert "clearing-house-off-chain" not in (netted_dir / "report.html").read_text()
