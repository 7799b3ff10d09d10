"""Baselines: what a portfolio would have drawn without the order, per ISP, in W.

Power at a congestion point is positive for consumption (import) and negative for injection
(export), so a discharging EV lowers it.  Three methods, chosen by ``SettlementRules``:

* ``nominated``: the FSP's DPrognosis submitted before gate closure;
* ``meter_before``: the portfolio's average metered power over ``meter_before_window_s``
  right before activation, held flat over the order;
* ``x_of_y``: of the last ``Y`` like days (same ISP of day, one ``x_of_y_like_day_s`` apart),
  the ``X`` chosen by ``x_of_y_selection`` are averaged per ISP; optionally shifted by the
  same-day difference over ``x_of_y_adjust_window_s`` before activation (capped).

Every division floors (Python ``//``), so results are exact integers anyone can reproduce.
A baseline that cannot be computed is ``None`` for that ISP, which makes the ISP unverifiable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from clearing.settlement.meter import Finding, MeterSeries
from clearing.settlement.rules import SettlementRules

__all__ = [
    "compute_baseline",
    "gaming_findings",
    "portfolio_power_w",
]

BASELINE_UNAVAILABLE = "baseline_unavailable"
BASELINE_GAMING = "baseline_gaming_suspect"
ADJUSTMENT_UNAVAILABLE = "baseline_adjustment_unavailable"


def portfolio_power_w(
    portfolio: Sequence[MeterSeries], start: int, end: int, max_gap_s: int
) -> int | None:
    """Average net power (import - export) of all connectors over [start, end), or None."""
    if end <= start or not portfolio:
        return None
    net_wh = 0
    for series in portfolio:
        energy = series.energy_wh(start, end, max_gap_s)
        if energy is None:
            return None
        net_wh += energy[0] - energy[1]
    return net_wh * 3600 // (end - start)


def _nominated(
    isp_starts: Sequence[int], nominated_w: Mapping[int, int] | None
) -> dict[int, int | None]:
    return {ts: (nominated_w or {}).get(ts) for ts in isp_starts}


def _meter_before(
    isp_starts: Sequence[int],
    activation_ts: int,
    portfolio: Sequence[MeterSeries],
    rules: SettlementRules,
) -> dict[int, int | None]:
    value = portfolio_power_w(
        portfolio, activation_ts - rules.meter_before_window_s, activation_ts, rules.max_gap_s
    )
    return dict.fromkeys(isp_starts, value)


def _x_of_y(
    isp_starts: Sequence[int],
    activation_ts: int,
    portfolio: Sequence[MeterSeries],
    rules: SettlementRules,
    subject: str,
    findings: list[Finding],
) -> dict[int, int | None]:
    adjust_w = rules.x_of_y_adjust_window_s
    usable: list[tuple[int, list[int], int]] = []  # (days back, ISP powers, window power)
    for k in range(1, rules.x_of_y_y + 1):
        offset = k * rules.x_of_y_like_day_s
        powers: list[int] = []
        for ts in isp_starts:
            p = portfolio_power_w(
                portfolio, ts - offset, ts - offset + rules.isp_s, rules.max_gap_s
            )
            if p is None:
                break
            powers.append(p)
        if len(powers) != len(isp_starts):
            continue
        window = 0
        if adjust_w:
            w = portfolio_power_w(
                portfolio,
                activation_ts - offset - adjust_w,
                activation_ts - offset,
                rules.max_gap_s,
            )
            if w is None:
                continue
            window = w
        usable.append((k, powers, window))
    if len(usable) < rules.x_of_y_x:
        findings.append(
            Finding(
                code=BASELINE_UNAVAILABLE,
                subject=subject,
                timestamp=activation_ts,
                detail=f"x_of_y: {len(usable)} usable like days, need {rules.x_of_y_x}",
            )
        )
        return dict.fromkeys(isp_starts)
    if rules.x_of_y_selection == "highest":
        usable.sort(key=lambda day: (-sum(day[1]), day[0]))
    else:
        usable.sort(key=lambda day: day[0])
    chosen = usable[: rules.x_of_y_x]
    x = rules.x_of_y_x
    adjustment = 0
    if adjust_w:
        event = portfolio_power_w(
            portfolio, activation_ts - adjust_w, activation_ts, rules.max_gap_s
        )
        if event is None:
            findings.append(
                Finding(
                    code=ADJUSTMENT_UNAVAILABLE,
                    subject=subject,
                    timestamp=activation_ts,
                    detail="same-day window not verifiable; adjustment set to 0",
                )
            )
        else:
            adjustment = event - sum(day[2] for day in chosen) // x
            cap = rules.x_of_y_adjust_cap_w
            if cap:
                adjustment = max(-cap, min(cap, adjustment))
    return {
        ts: sum(day[1][i] for day in chosen) // x + adjustment for i, ts in enumerate(isp_starts)
    }


def compute_baseline(
    *,
    isp_starts: Sequence[int],
    activation_ts: int,
    portfolio: Sequence[MeterSeries],
    nominated_w: Mapping[int, int] | None,
    rules: SettlementRules,
    subject: str,
) -> tuple[dict[int, int | None], list[Finding]]:
    """Baseline power per ISP start for one portfolio under ``rules.baseline_method``."""
    findings: list[Finding] = []
    if rules.baseline_method == "nominated":
        out = _nominated(isp_starts, nominated_w)
    elif rules.baseline_method == "meter_before":
        out = _meter_before(isp_starts, activation_ts, portfolio, rules)
    else:
        out = _x_of_y(isp_starts, activation_ts, portfolio, rules, subject, findings)
    missing = [ts for ts in isp_starts if out.get(ts) is None]
    if missing and rules.baseline_method != "x_of_y":
        findings.append(
            Finding(
                code=BASELINE_UNAVAILABLE,
                subject=subject,
                timestamp=missing[0],
                detail=f"{rules.baseline_method}: no baseline for {len(missing)} ISP(s)",
            )
        )
    return out, findings


def gaming_findings(
    *,
    nominated_w: Mapping[int, int],
    ordered_isps: Iterable[int],
    portfolio: Sequence[MeterSeries],
    rules: SettlementRules,
    subject: str,
    paying_direction: str | None = None,
) -> list[Finding]:
    """Flag ISPs without an order whose nominated baseline (by ISP start) is far from the meter.

    With ``paying_direction`` only the deviation that would raise the FSP's payout counts: for
    UP orders a baseline above the meter (inflated consumption), for DOWN orders one below it.
    The opposite deviation is what an order's rebound produces outside its ISPs, not gaming.
    """
    ordered = set(ordered_isps)
    out: list[Finding] = []
    for ts, baseline_w in sorted(nominated_w.items()):
        if ts in ordered:
            continue
        metered = portfolio_power_w(portfolio, ts, ts + rules.isp_s, rules.max_gap_s)
        if metered is None:
            continue
        tolerance = max(
            rules.gaming_tolerance_w, abs(baseline_w) * rules.gaming_tolerance_ppm // 1_000_000
        )
        excess = {
            "UP": baseline_w - metered,
            "DOWN": metered - baseline_w,
        }.get(paying_direction or "", abs(baseline_w - metered))
        if excess > tolerance:
            out.append(
                Finding(
                    code=BASELINE_GAMING,
                    subject=subject,
                    timestamp=ts,
                    detail=(
                        f"nominated {baseline_w} W vs metered {metered} W in an ISP without "
                        f"an order (tolerance {tolerance} W)"
                    ),
                )
            )
    return out
