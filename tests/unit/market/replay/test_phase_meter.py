"""The phase meter adds wall and CPU seconds per phase and ranks the largest (timing.json)."""

from __future__ import annotations

import os

import pytest

from market.replay.phase_meter import PhaseMeter, peak_rss_mb, process_peak_rss_mb


class _Clock:
    """A clock the test moves by hand, so sums are exact without sleeping."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_phases_sum_over_sessions_and_rank_the_three_largest() -> None:
    wall, cpu = _Clock(), _Clock()
    meter = PhaseMeter(wall=wall, cpu=cpu)
    mark = meter.mark()
    for open_s, delivery_s in ((3.0, 1.0), (4.0, 2.5)):  # two sessions
        wall.t += open_s
        cpu.t += open_s / 2
        mark = meter.add("open", mark)
        wall.t += delivery_s
        cpu.t += 0.25
        mark = meter.add("delivery", mark)
    with meter.phase("report"):
        wall.t += 2.0
        cpu.t += 2.0
    with meter.phase("setup"):
        wall.t += 0.5
    out = meter.to_json()
    assert list(out["phases"]) == ["setup", "open", "delivery", "report"]  # phase order
    assert out["phases"]["open"] == {"wall_s": 7.0, "cpu_s": 3.5, "runs": 2}
    assert out["phases"]["delivery"] == {"wall_s": 3.5, "cpu_s": 0.5, "runs": 2}
    assert [p["phase"] for p in out["largest_phases"]] == ["open", "delivery", "report"]
    assert out["largest_phases"][0]["share_of_wall"] == pytest.approx(7.0 / 13.0, abs=1e-3)
    assert out["peak_rss_mb"] == out["peak_rss_self_mb"] + out["peak_rss_children_mb"] > 0


def test_a_phase_that_raises_is_still_charged() -> None:
    wall = _Clock()
    meter = PhaseMeter(wall=wall, cpu=_Clock())
    with pytest.raises(RuntimeError), meter.phase("verify"):
        wall.t += 1.5
        raise RuntimeError("boom")
    assert meter.to_json()["phases"]["verify"]["wall_s"] == 1.5


def test_an_unknown_phase_is_refused() -> None:
    meter = PhaseMeter()
    with pytest.raises(ValueError, match="not one of"):
        meter.add("lunch", meter.mark())


def test_peak_rss_of_this_process_and_of_a_pid() -> None:
    # read the /proc figure first: a peak only grows, so the later getrusage one is >= it
    via_proc = process_peak_rss_mb(os.getpid()) or 0
    assert peak_rss_mb() >= via_proc > 0
    assert process_peak_rss_mb(2**22 + 7) is None  # no such process
