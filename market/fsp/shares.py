"""The EV users' shares of an FSP's payout, by the flexibility each EVSE delivered. Pure.

Why not by energy: for an UP order (consume less) the EV that charged the most shifted the
least, so sharing by metered energy paid the wrong users. Here an EVSE's flexibility in an
ordered ISP is what the settlement measures for the FSP's portfolio, applied to the EVSE
alone:

* ``baseline_w``: :func:`clearing.settlement.baselines.compute_baseline` under the session's
  settlement rules (from its delivery bundle) over the EVSE's own meter series; for the
  ``nominated`` method the EVSE's part of the FSP's prognosis (its uncontrolled-charging
  baseline, kept by the gateway when it bid);
* ``actual_w``: the EVSE's average metered net power (import - export) over the ISP;
* ``delivered_w`` in the order's direction (UP: baseline - actual, DOWN: actual - baseline),
  clipped to ``[0, ordered_w]`` (``ordered_w``: the FSP's orders at the EVSE's congestion
  point in that ISP), so over-delivery and counter-moves earn nothing;
* ``delivered_wh = delivered_w x isp_s / 3600`` (floored), summed over the ISPs.

The payout is split over every EVSE in proportion to ``delivered_wh`` (largest-remainder
rule, :func:`split_payout`); an EVSE without an EV user keeps its part with the FSP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from clearing.messages import FlexOrder
from clearing.settlement.baselines import compute_baseline, portfolio_power_w
from clearing.settlement.meter import MeterSeries
from clearing.settlement.rules import SettlementRules
from clearing.units import energy_wh

RULE = (
    "Your share = the FSP's payout for the session x your EVSE's delivered flexibility / the "
    "flexibility all the FSP's EVSEs delivered. Delivered flexibility per ISP = |metered - "
    "baseline| in the ordered direction, clipped to the ordered power (the settlement's "
    "baseline rule, applied to your EVSE). Shares are floored to whole units; the units left "
    "over go one each to the largest remainders (ties by station/EVSE name); an EVSE without "
    "an EV user leaves its share with the FSP."
)


@dataclass(frozen=True)
class IspFlex:
    """One ordered ISP as one EVSE delivered it (``None``: not measurable, counts 0)."""

    isp_index: int
    start_ts: int
    direction: str
    ordered_w: int
    baseline_w: int | None
    actual_w: int | None
    delivered_w: int
    delivered_wh: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ordered_at(orders: Sequence[FlexOrder], congestion_point: str) -> dict[int, tuple[str, int]]:
    """ISP index -> (direction, summed ordered W) of the orders at one congestion point.

    The settlement refuses UP and DOWN orders of one portfolio in one ISP, so the first
    order's direction is the ISP's."""
    out: dict[int, tuple[str, int]] = {}
    for order in sorted(orders, key=lambda o: o.order_id):
        if order.congestion_point != congestion_point:
            continue
        for isp in order.isps:
            direction, total = out.get(isp.isp_index, (order.direction, 0))
            out[isp.isp_index] = (direction, total + isp.power_w)
    return out


def evse_flexibility(
    series: MeterSeries,
    ordered: Mapping[int, tuple[str, int]],
    *,
    session_start: int,
    rules: SettlementRules,
    nominated_w: Sequence[int] | None,
) -> list[IspFlex]:
    """Per ordered ISP, the flexibility one EVSE delivered (see the module docstring).

    ``nominated_w``: the EVSE's baseline per session ISP (index), for ``nominated`` rules."""
    isp_s = rules.isp_s
    indices = sorted(ordered)
    starts = [session_start + i * isp_s for i in indices]
    if not starts:
        return []
    nominated = (
        {session_start + k * isp_s: w for k, w in enumerate(nominated_w)}
        if nominated_w is not None
        else None
    )
    baseline, _ = compute_baseline(
        isp_starts=starts,
        activation_ts=starts[0],
        portfolio=[series],
        nominated_w=nominated,
        rules=rules,
        subject=f"{series.key[0]}/{series.key[1]}",
    )
    out: list[IspFlex] = []
    for index, ts in zip(indices, starts, strict=True):
        direction, ordered_w = ordered[index]
        b = baseline.get(ts)
        a = portfolio_power_w([series], ts, ts + isp_s, rules.max_gap_s)
        delivered = 0
        if b is not None and a is not None:
            raw = b - a if direction == "UP" else a - b
            delivered = max(0, min(ordered_w, raw))
        out.append(
            IspFlex(
                isp_index=index,
                start_ts=ts,
                direction=direction,
                ordered_w=ordered_w,
                baseline_w=b,
                actual_w=a,
                delivered_w=delivered,
                delivered_wh=energy_wh(delivered, isp_s),
            )
        )
    return out


def split_payout(payout_units: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``payout_units`` in proportion to non-negative ``weights`` (largest remainder).

    Each key first gets ``floor(payout x weight / total)``; the units left over (fewer than
    there are keys) go one each to the keys with the largest remainders, ties by key, so the
    shares add up to the payout exactly. No weight at all, or no payout: every share is 0."""
    clean = {k: max(0, w) for k, w in weights.items()}
    total = sum(clean.values())
    if payout_units <= 0 or total == 0:
        return dict.fromkeys(weights, 0)
    shares = {k: payout_units * w // total for k, w in clean.items()}
    remainders = sorted(clean, key=lambda k: (-(payout_units * clean[k] % total), k))
    for key in remainders[: payout_units - sum(shares.values())]:
        shares[key] += 1
    return shares
