"""The window a posted reading must fall in follows the settlement rules and the meter grace."""

from __future__ import annotations

from clearing.settlement.rules import SettlementRules
from market.core.readings import ReadingRules


def test_nominated_baseline_needs_one_gap_before_and_the_grace_after() -> None:
    rules = ReadingRules.of(SettlementRules(), meter_grace_s=1_800, clock_skew_s=30)
    assert rules == ReadingRules(before_s=900, after_s=1_800, clock_skew_s=30)


def test_history_baselines_widen_the_window_before_delivery() -> None:
    meter_before = SettlementRules(baseline_method="meter_before", meter_before_window_s=7_200)
    assert ReadingRules.of(meter_before, meter_grace_s=60, clock_skew_s=60).before_s == 8_100
    x_of_y = SettlementRules(baseline_method="x_of_y", x_of_y_y=5)
    rules = ReadingRules.of(x_of_y, meter_grace_s=60, clock_skew_s=60)
    assert rules.before_s == 5 * 86_400 + 900
    assert rules.after_s == 900  # one gap after delivery is read even when the grace is shorter
