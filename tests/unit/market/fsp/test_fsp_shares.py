"""EV users' shares by the flexibility their EVSE delivered (the settlement's baseline rule
per EVSE, clipped to the order), with the largest-remainder split."""

from __future__ import annotations

import uuid
from typing import Literal

import pytest

from adapters.ocpp.sink import MeterReading
from clearing.messages import FlexOrder, IspPower
from clearing.settlement.meter import MeterSeries
from clearing.settlement.rules import SettlementRules
from market.fsp.checks import energy_wh
from market.fsp.shares import evse_flexibility, ordered_at, split_payout

ISP_S = 900
START = 36_000
NOMINATED = SettlementRules(isp_s=ISP_S, max_gap_s=300)
METER_BEFORE = SettlementRules(
    isp_s=ISP_S, max_gap_s=300, baseline_method="meter_before", meter_before_window_s=ISP_S
)


def _order(
    power_w: list[int], direction: Literal["UP", "DOWN"] = "UP", cp: str = "CP-1", n: int = 0
) -> FlexOrder:
    return FlexOrder(
        order_id=str(uuid.UUID(int=n + 1)),
        session_id=str(uuid.UUID(int=99)),
        offer_id=str(uuid.UUID(int=100 + n)),
        option_ref="flat",
        fsp="0x" + "ab" * 20,
        request_id=str(uuid.UUID(int=200)),
        congestion_point=cp,
        direction=direction,
        activation_ppm=1_000_000,
        isps=tuple(IspPower(isp_index=i, power_w=w) for i, w in enumerate(power_w) if w),
        price_per_mwh=100_000_000,
        payment_cap_units=10**9,
    )


def _series(name: str, power_w: list[int], *, t0: int = START, step_s: int = 180) -> MeterSeries:
    """Readings every ``step_s`` from ``t0`` at the power of each ISP (from START)."""
    points, reg, t = [(t0, 0, 0)], 0, t0
    end = START + ISP_S * len(power_w)
    while t < end:
        k = (t - START) // ISP_S
        p = power_w[k] if k >= 0 else power_w[0]
        reg += p * step_s // 3600
        t += step_s
        points.append((t, reg, 0))
    return MeterSeries((name, 1), points)


def test_the_ev_that_shifted_most_gets_the_most_not_the_one_that_charged_most() -> None:
    """UP order of 8 kW for two ISPs. Alice kept charging at 11 kW (shifted nothing), Bob went
    from 11 kW to 3 kW. By energy (the old rule) Alice got 11/14 of the payout; by delivered
    flexibility Bob gets all of it."""
    ordered = ordered_at([_order([8_000, 8_000])], "CP-1")
    baseline = [11_000, 11_000]
    alice = evse_flexibility(
        _series("A", [11_000, 11_000]),
        ordered,
        session_start=START,
        rules=NOMINATED,
        nominated_w=baseline,
    )
    bob = evse_flexibility(
        _series("B", [3_000, 3_000]),
        ordered,
        session_start=START,
        rules=NOMINATED,
        nominated_w=baseline,
    )
    assert [i.delivered_w for i in alice] == [0, 0]
    assert [i.delivered_w for i in bob] == [8_000, 8_000]
    assert [i.baseline_w for i in bob] == [11_000, 11_000]
    assert [i.actual_w for i in bob] == [3_000, 3_000]
    weights = {"A": sum(i.delivered_wh for i in alice), "B": sum(i.delivered_wh for i in bob)}
    assert weights == {"A": 0, "B": 4_000}
    assert split_payout(1_000, weights) == {"A": 0, "B": 1_000}
    # the old rule (metered energy) on the same meters: Alice would have earned most
    readings = {
        name: [MeterReading(name, 1, t, i, e, 0, None, "ocpp2.1", t) for t, i, e in s.points]
        for name, s in (("A", _series("A", [11_000] * 2)), ("B", _series("B", [3_000] * 2)))
    }
    old = {n: energy_wh(r, START, START + 2 * ISP_S) for n, r in readings.items()}
    assert old["A"] > old["B"] > 0


def test_delivery_is_clipped_to_the_order_and_counter_moves_earn_nothing() -> None:
    ordered = ordered_at([_order([2_000, 2_000, 2_000])], "CP-1")
    flex = evse_flexibility(
        _series("A", [1_000, 12_000, 9_500]),
        ordered,
        session_start=START,
        rules=NOMINATED,
        nominated_w=[10_000, 10_000, 10_000],
    )
    # 9 kW down -> clipped to 2 kW; 2 kW more instead of less -> 0; 500 W -> 500 W
    assert [i.delivered_w for i in flex] == [2_000, 0, 500]
    assert [i.delivered_wh for i in flex] == [500, 0, 125]


def test_down_orders_count_extra_consumption_and_orders_elsewhere_are_ignored() -> None:
    orders = [_order([4_000, 0], "DOWN"), _order([0, 9_000], "DOWN", cp="CP-2", n=1)]
    ordered = ordered_at(orders, "CP-1")
    assert ordered == {0: ("DOWN", 4_000)}
    flex = evse_flexibility(
        _series("A", [7_000, 7_000]),
        ordered,
        session_start=START,
        rules=NOMINATED,
        nominated_w=[4_000, 4_000],
    )
    assert [(i.isp_index, i.delivered_w) for i in flex] == [(0, 3_000)]


def test_meter_before_baseline_comes_from_the_evses_own_meter() -> None:
    """meter_before: the EVSE's average power over the window before activation."""
    ordered = ordered_at([_order([0, 5_000])], "CP-1")  # activation at ISP 1
    flex = evse_flexibility(
        _series("A", [11_000, 4_000], t0=START - ISP_S),
        ordered,
        session_start=START,
        rules=METER_BEFORE,
        nominated_w=None,
    )
    (isp,) = flex
    assert isp.baseline_w == 11_000 and isp.actual_w == 4_000 and isp.delivered_w == 5_000


def test_an_isp_without_baseline_or_meter_data_counts_zero() -> None:
    ordered = ordered_at([_order([5_000, 5_000])], "CP-1")
    no_nomination = evse_flexibility(
        _series("A", [0, 0]), ordered, session_start=START, rules=NOMINATED, nominated_w=None
    )
    assert [(i.baseline_w, i.delivered_w) for i in no_nomination] == [(None, 0), (None, 0)]
    gap = MeterSeries(("A", 1), [(START, 0, 0), (START + 2 * ISP_S, 100, 0)])  # > max_gap_s
    flex = evse_flexibility(
        gap, ordered, session_start=START, rules=NOMINATED, nominated_w=[9_000, 9_000]
    )
    assert [(i.actual_w, i.delivered_w) for i in flex] == [(None, 0), (None, 0)]


@pytest.mark.parametrize(
    ("payout", "weights", "expected"),
    [
        (1_000, {"a": 2, "b": 1, "c": 0}, {"a": 667, "b": 333, "c": 0}),
        (10, {"a": 1, "b": 1, "c": 1}, {"a": 4, "b": 3, "c": 3}),  # tie: by key
        (7, {"b": 1, "a": 1}, {"a": 4, "b": 3}),
        (1_000, {"a": 0, "b": 0}, {"a": 0, "b": 0}),
        (0, {"a": 5}, {"a": 0}),
        (5, {"a": -3, "b": 1}, {"a": 0, "b": 5}),
    ],
)
def test_split_adds_up_to_the_payout_by_largest_remainder(
    payout: int, weights: dict[str, int], expected: dict[str, int]
) -> None:
    shares = split_payout(payout, weights)
    assert shares == expected
    if any(w > 0 for w in weights.values()):
        assert sum(shares.values()) == payout
