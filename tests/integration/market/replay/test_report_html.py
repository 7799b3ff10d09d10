"""The HTML report opens in headless Chromium and every plot decodes to a non-empty image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from market.replay.report import (
    LoadingSeries,
    PowerSeries,
    ReplayPlots,
    SocSeries,
    write_report_html,
    write_report_json,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.integration


def _browser_dom(page: Path, profile: Path) -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def _plots() -> ReplayPlots:
    n = 96
    return ReplayPlots(
        isp_s=900,
        loading=[LoadingSeries("TRAFO-1", 1000, [900 + (i % 40) * 5 for i in range(n)], [900] * n)],
        power=[PowerSeries("s1", "UP", [5000] * n, [4000] * n, [3900] * n)],
        soc=[SocSeries("ev1", [0, 3600, 7200], [40, 50, 80], 7200, 80)],
        money_flows=[("DSO", "EMSP", 1_234_567), ("EMSP", "user-1", 200_000)],
    )


def test_every_plot_loads_with_non_zero_size_in_headless_chromium(tmp_path: Path) -> None:
    report = {"scenario": "unit", "total": {"welfare_units": 5}, "findings": []}
    page = write_report_html(tmp_path, report, _plots())
    dom = _browser_dom(page, tmp_path / "profile")
    images = re.findall(r"<img[^>]*class=\"plot\"[^>]*>", dom)
    assert len(images) == 4
    assert all('data-rendered="yes"' in img for img in images), images
    status = re.search(r'id="plot-status"[^>]*data-ok="(\d+)"[^>]*data-total="(\d+)"', dom)
    assert status is not None and status.group(1) == status.group(2) == "4"


def test_a_broken_plot_is_reported_as_not_rendered(tmp_path: Path) -> None:
    page = write_report_html(tmp_path, {"scenario": "broken"}, _plots())
    text = page.read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    page.write_text(text)
    dom = _browser_dom(page, tmp_path / "profile")
    assert 'data-rendered="no"' in dom


def test_report_json_is_canonical_and_keeps_timing_apart(tmp_path: Path) -> None:
    report = {"scenario": "x", "total": {"b": 2, "a": 1}, "timing": {"total_s": 1.5}}
    path = write_report_json(tmp_path, report)
    assert path.read_bytes() == (
        b'{"scenario":"x","timing":"see timing.json (wall-clock, not deterministic)",'
        b'"total":{"a":1,"b":2}}\n'
    )
    assert "1.5" in (tmp_path / "timing.json").read_text()
