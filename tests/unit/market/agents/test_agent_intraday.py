"""Rolling intraday windows: gates a fixed time before delivery, whole windows only."""

from __future__ import annotations

import pytest

from market.agents.intraday import IntradayWindow, intraday_windows

T0 = 1_780_000_000 - 1_780_000_000 % 3600  # an hour boundary


def test_hourly_windows_close_their_gate_15_minutes_before_delivery_by_default() -> None:
    windows = intraday_windows(
        first_start_unix=T0, until_unix=T0 + 3 * 3600, every_s=3600, delivery_s=3600
    )
    assert windows == [
        IntradayWindow(T0 + k * 3600 - 900, T0 + k * 3600, T0 + (k + 1) * 3600) for k in range(3)
    ]


def test_a_window_that_would_end_after_until_is_not_opened() -> None:
    windows = intraday_windows(
        first_start_unix=T0,
        until_unix=T0 + 5400,
        every_s=3600,
        delivery_s=3600,
        gate_before_delivery_s=1800,
    )
    assert windows == [IntradayWindow(T0 - 1800, T0, T0 + 3600)]
    assert (
        intraday_windows(first_start_unix=T0, until_unix=T0 + 900, every_s=900, delivery_s=1800)
        == []
    )


@pytest.mark.parametrize(
    ("every_s", "delivery_s", "gate_s"), [(0, 900, 900), (900, 0, 900), (900, 900, -1)]
)
def test_degenerate_schedules_are_refused(every_s: int, delivery_s: int, gate_s: int) -> None:
    with pytest.raises(ValueError, match="every_s and delivery_s"):
        intraday_windows(
            first_start_unix=T0,
            until_unix=T0 + 86400,
            every_s=every_s,
            delivery_s=delivery_s,
            gate_before_delivery_s=gate_s,
        )
