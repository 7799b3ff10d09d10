"""The X-of-Y baseline end to end: UC4.1 (an UP request) settled on 4 of the last 5 like days.

With a ``history`` section the meters' prior days are kept in the store, enter the delivery
bundle, give the UP order a non-zero baseline, the FSP is paid and the auditor, recomputing
from the bundle alone, agrees. The twin without history is warned about, and pays 0 with a
named ``baseline_unavailable`` finding (what every X-of-Y scenario did before history).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from replay_cases import SCENARIOS

from market.replay.history import baseline_warnings
from market.replay.runner import ReplayOptions, run_replay
from market.replay.scenario import load_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

LOW_DAY = [1_000_000, 1_000_000, 1_000_000, 1_000_000, 500_000]  # D-5 is left out


def _variant(tmp: Path, history: dict[str, Any] | None) -> Path:
    data = yaml.safe_load((SCENARIOS / "uc4-1-isle-of-wight.yaml").read_text())
    data["market"]["baseline"] = "x_of_y"
    if history is not None:
        data["history"] = history
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _replay(tmp: Path, history: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    scenario = _variant(tmp, history)
    report = run_replay(scenario, ReplayOptions(report_dir=tmp / "report"))
    (session,) = report["sessions"].values()
    bundle_file = tmp / "report" / "bundles" / session["session_id"] / "delivery.json"
    return report, json.loads(bundle_file.read_text())


def test_x_of_y_with_history_pays_and_the_audit_recomputes_it(tmp_path: Path) -> None:
    assert baseline_warnings(load_scenario(_variant(tmp_path, {"days": 5}))) == []
    report, bundle = _replay(tmp_path, {"days": 5, "day_scale_ppm": LOW_DAY})
    assert report["audit"]["passed"] is True, report["audit"]
    assert report["total"]["payouts_units"] > 0
    assert report["total"]["violation_isps_after"] == 0
    delivery = bundle["report"]
    assert delivery["rules"]["baseline_method"] == "x_of_y"
    assert not [f for f in delivery["findings"] if f["code"].startswith("baseline")]
    (order,) = delivery["orders"]
    assert order["direction"] == "UP" and order["payout_units"] > 0
    assert all(i["status"] == "verified" for i in order["isps"])
    assert any(i["baseline_w"] > 0 for i in order["isps"])  # the history's charging
    # the baseline's inputs are published: readings of the like days before delivery
    start = bundle["inputs"]["session_start_ts"]
    days_back = {(start - r["timestamp"]) // 86_400 + 1 for r in bundle["inputs"]["readings"]}
    assert {1, 2, 3, 4, 5} <= days_back


def test_x_of_y_without_history_is_warned_and_pays_nothing(tmp_path: Path) -> None:
    (warning,) = baseline_warnings(load_scenario(_variant(tmp_path, None)))
    assert warning.path == "market.baseline"
    report, bundle = _replay(tmp_path, None)
    assert report["total"]["payouts_units"] == 0
    codes = {f["code"] for f in bundle["report"]["findings"]}
    assert "baseline_unavailable" in codes
    assert any(f.startswith("scenario market.baseline: x_of_y") for f in report["findings"])
