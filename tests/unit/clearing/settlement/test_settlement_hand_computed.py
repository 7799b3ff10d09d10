"""Hand-computed settlements: every baseline method x every delivery case.

Portfolio: two connectors (CS-A/1, CS-B/1).  Event day, per connector, ISPs 0..3 draw
4 500, 5 500, 5 000, 5 000 W (portfolio 9 000, 11 000, 10 000, 10 000: average 10 000 W over
the hour before activation), ISPs 6..7 draw 5 000 W.  The order is UP in ISPs 4 and 5.
Every method gives a 10 000 W baseline in ISPs 4 and 5:

* nominated: the DPrognosis says 10 000 W in ISPs 0..7;
* meter_before: the average over the 3 600 s before ISP 4 is 10 000 W;
* x_of_y (4 of 5, highest): like days 1..4 drew 5 000 W per connector, day 5 only 3 000 W,
  so day 5 is dropped and the average of the rest is 10 000 W.

Price 100 000 000 units/MWh (100 EUR/MWh), ISP 900 s: 8 000 W for one ISP is 2 000 Wh
= 200 000 units, so an 8 000 W order over two ISPs is worth 400 000 units.
Tolerance 5 %: 400 W of an 8 000 W order.
"""

from __future__ import annotations

import pytest
from settlement_helpers import (
    FSP,
    ISP_S,
    SESSION_START,
    make_inputs,
    make_order,
    make_prognosis,
    profile_readings,
    uid,
)

from clearing.settlement.delivery import compute_delivery
from clearing.settlement.rules import SettlementRules

PRICE = 100_000_000
BUDGET = 1_000_000
METERS = [("CS-A", 1), ("CS-B", 1)]
KEYS_NAMES = ["CS-A", "CS-B"]
DAY = 86_400


def station_keys() -> dict[str, str]:
    from settlement_helpers import address_of

    return {name: address_of(name) for name in KEYS_NAMES}


def ts(index: int) -> int:
    return SESSION_START + index * ISP_S


def event_readings(per_meter_w: int) -> list:
    profile = [4_500, 5_500, 5_000, 5_000, per_meter_w, per_meter_w, 5_000, 5_000]
    out = []
    for station, evse in METERS:
        out += profile_readings(station, evse, SESSION_START, profile)
    return out


def history_readings(window_w: int | None = None) -> list:
    """Like days 1..5 before the session: ISPs 4 and 5 (and optionally 2, 3 as window)."""
    out = []
    for k in range(1, 6):
        per_meter = 5_000 if k <= 4 else 3_000
        start_wh = 100_000 - k * 20_000  # registers keep rising towards the event day
        for station, evse in METERS:
            if window_w is None:
                out += profile_readings(
                    station, evse, ts(4) - k * DAY, [per_meter, per_meter], import_wh=start_wh
                )
            else:
                out += profile_readings(
                    station,
                    evse,
                    ts(2) - k * DAY,
                    [window_w, window_w, per_meter, per_meter],
                    import_wh=start_wh,
                )
    return out


# case: per-connector power in ISPs 4-5, ordered W per ISP, penalty factor, expectations
CASES = {
    "full": {
        "meter_w": 1_000,
        "ordered": 8_000,
        "factor": 1_000_000,
        "actual": 2_000,
        "delivered": 8_000,
        "credited": 8_000,
        "deficiency": 0,
        "paid": 400_000,
        "penalty": 0,
        "payout": 400_000,
    },
    "within_tolerance": {
        "meter_w": 1_200,
        "ordered": 8_000,
        "factor": 1_000_000,
        "actual": 2_400,
        "delivered": 7_600,
        "credited": 8_000,
        "deficiency": 0,
        "paid": 400_000,
        "penalty": 0,
        "payout": 400_000,
    },
    "beyond_tolerance": {
        "meter_w": 3_000,
        "ordered": 8_000,
        "factor": 1_000_000,
        "actual": 6_000,
        "delivered": 4_000,
        "credited": 4_000,
        "deficiency": 4_000,
        "paid": 200_000,
        "penalty": 180_000,
        "payout": 20_000,
    },
    "no_delivery": {
        "meter_w": 5_000,
        "ordered": 8_000,
        "factor": 1_500_000,
        "actual": 10_000,
        "delivered": 0,
        "credited": 0,
        "deficiency": 8_000,
        "paid": 0,
        "penalty": 400_000,
        "payout": 0,
    },
    "over_delivery": {
        "meter_w": 0,
        "ordered": 8_000,
        "factor": 1_000_000,
        "actual": 0,
        "delivered": 10_000,
        "credited": 8_000,
        "deficiency": 0,
        "paid": 400_000,
        "penalty": 0,
        "payout": 400_000,
    },
    "discharge": {
        "meter_w": -1_000,
        "ordered": 12_000,
        "factor": 1_000_000,
        "actual": -2_000,
        "delivered": 12_000,
        "credited": 12_000,
        "deficiency": 0,
        "paid": 600_000,
        "penalty": 0,
        "payout": 600_000,
    },
}


def rules_for(method: str, factor: int) -> SettlementRules:
    return SettlementRules(
        baseline_method=method,
        meter_before_window_s=3_600,
        x_of_y_x=4,
        x_of_y_y=5,
        delivery_tolerance_ppm=50_000,
        penalty_factor_ppm=factor,
    )


@pytest.mark.parametrize("method", ["nominated", "meter_before", "x_of_y"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_settlement_matches_hand_computation(method: str, case: str) -> None:
    c = CASES[case]
    ordered = c["ordered"]
    value = 2 * (ordered * ISP_S // 3600) * PRICE // 1_000_000
    order = make_order(
        "o1", isps={4: ordered, 5: ordered}, price_per_mwh=PRICE, payment_cap_units=value
    )
    readings = event_readings(c["meter_w"])
    if method == "x_of_y":
        readings += history_readings()
    inputs = make_inputs(
        readings,
        METERS,
        reservations=[("request-1", FSP, value)],
        budgets=[("request-1", BUDGET)],
        prognoses=[make_prognosis(dict.fromkeys(range(8), 10_000))],
    )
    outcome = compute_delivery(inputs, [order], rules_for(method, c["factor"]), station_keys())
    report = outcome.report
    (settled,) = report.orders
    for row in settled.isps:
        assert row.status == "verified"
        assert row.baseline_w == 10_000
        assert row.ordered_w == ordered
        assert row.actual_w == c["actual"]
        assert row.delivered_w == c["delivered"]
        assert row.credited_w == c["credited"]
        assert row.deficiency_w == c["deficiency"]
    assert settled.ordered_value_units == value
    assert settled.paid_units == c["paid"]
    assert settled.penalty_units == c["penalty"]
    assert settled.net_units == c["paid"] - c["penalty"]
    assert settled.payout_units == c["payout"]
    assert settled.uncovered_penalty_units == max(c["penalty"] - c["paid"], 0)
    assert report.payout_vector() == [c["payout"]]
    (refund,) = report.refunds
    assert refund.refund_units == BUDGET - c["payout"]
    assert [f for f in report.findings if f.code != "baseline_gaming_suspect"] == []
    # Discharge shows up in the export register of the per-connector energy.
    exported = sum(m["export_wh"] for m in settled.meters)
    assert exported == (2 * 2 * 250 if case == "discharge" else 0)


def test_no_delivery_penalty_is_capped_at_order_value() -> None:
    """1.5 x 380 000 = 570 000 would exceed the 400 000 order value: the cap applies."""
    order = make_order(
        "o1", isps={4: 8_000, 5: 8_000}, price_per_mwh=PRICE, payment_cap_units=400_000
    )
    inputs = make_inputs(
        event_readings(5_000),
        METERS,
        reservations=[("request-1", FSP, 400_000)],
        budgets=[("request-1", BUDGET)],
        prognoses=[make_prognosis(dict.fromkeys(range(8), 10_000))],
    )
    report = compute_delivery(
        inputs, [order], rules_for("nominated", 1_500_000), station_keys()
    ).report
    assert report.orders[0].penalty_units == 400_000
    assert report.orders[0].uncovered_penalty_units == 400_000


def test_down_order_counts_extra_consumption() -> None:
    """DOWN: delivered = actual - baseline; 7 000 W per connector = 14 000 W = +4 000 W."""
    order = make_order(
        "o1",
        isps={4: 4_000, 5: 4_000},
        price_per_mwh=PRICE,
        payment_cap_units=200_000,
        direction="DOWN",
    )
    inputs = make_inputs(
        event_readings(7_000),
        METERS,
        reservations=[("request-1", FSP, 200_000)],
        budgets=[("request-1", BUDGET)],
        prognoses=[make_prognosis(dict.fromkeys(range(8), 10_000))],
    )
    report = compute_delivery(
        inputs, [order], rules_for("nominated", 1_000_000), station_keys()
    ).report
    rows = report.orders[0].isps
    assert [r.delivered_w for r in rows] == [4_000, 4_000]
    assert report.orders[0].payout_units == 200_000


@pytest.mark.parametrize(("cap_w", "expected"), [(0, 11_000), (2_000, 11_000), (500, 10_500)])
def test_x_of_y_same_day_adjustment(cap_w: int, expected: int) -> None:
    """Like days drew 9 000 W in the 30 min before activation, the event day 10 000 W: +1 000."""
    readings = event_readings(1_000) + history_readings(window_w=4_500)
    order = make_order(
        "o1", isps={4: 8_000, 5: 8_000}, price_per_mwh=PRICE, payment_cap_units=400_000
    )
    inputs = make_inputs(
        readings,
        METERS,
        reservations=[("request-1", FSP, 400_000)],
        budgets=[("request-1", BUDGET)],
    )
    rules = SettlementRules(
        baseline_method="x_of_y",
        x_of_y_adjust_window_s=1_800,
        x_of_y_adjust_cap_w=cap_w,
    )
    report = compute_delivery(inputs, [order], rules, station_keys()).report
    assert [r.baseline_w for r in report.orders[0].isps] == [expected, expected]
    assert [r.delivered_w for r in report.orders[0].isps] == [expected - 2_000] * 2


def test_x_of_y_recent_selection_keeps_the_low_day_out_only_when_not_recent() -> None:
    """'recent' 4 of 5 takes days 1..4 (5 000 W each) - same as 'highest' here; 5 of 5 averages
    in the 3 000 W day: (4 x 10 000 + 6 000) / 5 = 9 200 W."""
    readings = event_readings(1_000) + history_readings()
    order = make_order(
        "o1", isps={4: 8_000, 5: 8_000}, price_per_mwh=PRICE, payment_cap_units=400_000
    )
    inputs = make_inputs(
        readings,
        METERS,
        reservations=[("request-1", FSP, 400_000)],
        budgets=[("request-1", BUDGET)],
    )
    rules = SettlementRules(
        baseline_method="x_of_y", x_of_y_x=5, x_of_y_y=5, x_of_y_selection="recent"
    )
    report = compute_delivery(inputs, [order], rules, station_keys()).report
    assert [r.baseline_w for r in report.orders[0].isps] == [9_200, 9_200]


def test_gaming_check_flags_nominated_baseline_far_from_meter() -> None:
    """ISPs 6-7 have no order; nominating 20 000 W there while 10 000 W is metered is flagged."""
    nominated = dict.fromkeys(range(8), 10_000) | {6: 20_000, 7: 20_000}
    order = make_order(
        "o1", isps={4: 8_000, 5: 8_000}, price_per_mwh=PRICE, payment_cap_units=400_000
    )
    inputs = make_inputs(
        event_readings(1_000),
        METERS,
        reservations=[("request-1", FSP, 400_000)],
        budgets=[("request-1", BUDGET)],
        prognoses=[make_prognosis(nominated)],
    )
    report = compute_delivery(inputs, [order], rules_for("nominated", 1_000_000), station_keys())
    flagged = [f for f in report.report.findings if f.code == "baseline_gaming_suspect"]
    assert [f.timestamp for f in flagged] == [ts(6), ts(7)]


@pytest.mark.parametrize(
    ("direction", "nominated_off_order_w", "flagged"),
    [
        ("UP", 0, False),  # below the 10 000 W metered: an UP order's rebound, not gaming
        ("DOWN", 20_000, False),  # above the meter: a DOWN order's rebound
        ("DOWN", 0, True),  # below the meter would inflate a DOWN payout
    ],
)
def test_gaming_check_counts_only_the_deviation_that_raises_the_payout(
    direction: str, nominated_off_order_w: int, flagged: bool
) -> None:
    nominated = dict.fromkeys(range(8), 10_000) | dict.fromkeys((6, 7), nominated_off_order_w)
    order = make_order(
        "o1",
        isps={4: 8_000, 5: 8_000},
        price_per_mwh=PRICE,
        payment_cap_units=400_000,
        direction=direction,
    )
    inputs = make_inputs(
        event_readings(1_000),
        METERS,
        reservations=[("request-1", FSP, 400_000)],
        budgets=[("request-1", BUDGET)],
        prognoses=[make_prognosis(nominated)],
    )
    report = compute_delivery(inputs, [order], rules_for("nominated", 1_000_000), station_keys())
    gaming = [f.timestamp for f in report.report.findings if f.code == "baseline_gaming_suspect"]
    assert gaming == ([ts(6), ts(7)] if flagged else [])


def test_two_orders_share_portfolio_delivery_pro_rata() -> None:
    """Two requests' orders in the same ISPs split the 8 000 W delivered 3:1 (6 000 / 2 000)."""
    o1 = make_order(
        "o1",
        isps={4: 6_000, 5: 6_000},
        price_per_mwh=PRICE,
        payment_cap_units=300_000,
        request="request-1",
    )
    o2 = make_order(
        "o2",
        isps={4: 2_000, 5: 2_000},
        price_per_mwh=PRICE,
        payment_cap_units=100_000,
        request="request-2",
    )
    inputs = make_inputs(
        event_readings(1_000),
        METERS,
        reservations=[("request-1", FSP, 300_000), ("request-2", FSP, 100_000)],
        budgets=[("request-1", 500_000), ("request-2", 500_000)],
        prognoses=[make_prognosis(dict.fromkeys(range(8), 10_000))],
    )
    report = compute_delivery(
        inputs, [o1, o2], rules_for("nominated", 1_000_000), station_keys()
    ).report
    by_id = {o.order_id: o for o in report.orders}
    assert [r.delivered_w for r in by_id[uid("o1")].isps] == [6_000, 6_000]
    assert [r.delivered_w for r in by_id[uid("o2")].isps] == [2_000, 2_000]
    assert report.payout_vector() == [300_000, 100_000]
    assert [r.refund_units for r in report.refunds] == [200_000, 400_000]
