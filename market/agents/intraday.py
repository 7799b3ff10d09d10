"""Intraday session windows: the rolling schedule a DSO opens near-real-time sessions on.

Pure arithmetic on unix seconds, shared by the scenario format (which expands an ``intraday:``
schedule into sessions) and any DSO that schedules intraday sessions itself, so both agree on
where each gate closes and each delivery starts.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_GATE_BEFORE_DELIVERY_S = 900


@dataclass(frozen=True)
class IntradayWindow:
    """One intraday session: its gate closes ``gate_before_delivery_s`` before delivery."""

    gate_closure_unix: int
    delivery_start_unix: int
    delivery_end_unix: int


def intraday_windows(
    *,
    first_start_unix: int,
    until_unix: int,
    every_s: int,
    delivery_s: int,
    gate_before_delivery_s: int = DEFAULT_GATE_BEFORE_DELIVERY_S,
) -> list[IntradayWindow]:
    """Sessions starting at ``first_start_unix`` and every ``every_s`` after, as long as their
    delivery ends by ``until_unix``; in delivery order."""
    if every_s <= 0 or delivery_s <= 0 or gate_before_delivery_s < 0:
        raise ValueError("every_s and delivery_s must be > 0, gate_before_delivery_s >= 0")
    out: list[IntradayWindow] = []
    start = first_start_unix
    while start + delivery_s <= until_unix:
        out.append(IntradayWindow(start - gate_before_delivery_s, start, start + delivery_s))
        start += every_s
    return out
