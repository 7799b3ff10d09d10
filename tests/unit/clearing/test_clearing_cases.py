"""Hand-computed clearing cases (ISP = 900 s: energy Wh = power W / 4; 1 EUR = 1e6 units).

Payment = energy_wh * price_per_mwh / 1e6 (floored), value = procured energy * max price / 1e6.
"""

from __future__ import annotations

from clearing_builders import (
    EUR,
    FSP_B,
    bundle,
    offer,
    option,
    request,
    uid,
)

from clearing.engine import clear, clear_run


def _orders(result):  # type: ignore[no-untyped-def]
    return {(o.offer_id, o.option_ref): o for o in result.orders}


def _two_offer_market(rule: str):  # type: ignore[no-untyped-def]
    # 100 kW wanted at 200 EUR/MWh; O1 60 kW @ 50 (whole block), O2 60 kW @ 100 (divisible)
    return bundle(
        [request("r")],
        [
            offer("o1", [option("x", {0: 60_000}, 50)]),
            offer("o2", [option("x", {0: 60_000}, 100, min_ppm=100_000)], fsp=FSP_B),
        ],
        rule=rule,
    )


def test_pay_as_bid() -> None:
    res = clear(_two_offer_market("pay_as_bid"))
    orders = _orders(res)
    o1, o2 = orders[(uid("o1"), "x")], orders[(uid("o2"), "x")]
    assert o1.activation_ppm == 1_000_000 and o1.isps[0].power_w == 60_000
    assert o2.activation_ppm == 666_667 and o2.isps[0].power_w == 40_000
    # 15 000 Wh * 50 EUR/MWh = 0.75 EUR; 10 000 Wh * 100 EUR/MWh = 1 EUR
    assert (o1.payment_cap_units, o1.price_per_mwh) == (750_000, 50 * EUR)
    assert (o2.payment_cap_units, o2.price_per_mwh) == (1_000_000, 100 * EUR)
    assert res.procurement[0].procured_w == 100_000
    assert res.value_units == 5_000_000  # 25 000 Wh * 200 EUR/MWh
    assert res.welfare_units == 5_000_000 - 1_750_000
    assert {(c.fsp, c.payment_cap_units) for c in res.payment_caps} == {
        (o1.fsp, 750_000),
        (o2.fsp, 1_000_000),
    }


def test_pay_as_clear_uses_marginal_accepted_bid() -> None:
    res = clear(_two_offer_market("pay_as_clear"))
    orders = _orders(res)
    o1, o2 = orders[(uid("o1"), "x")], orders[(uid("o2"), "x")]
    assert [
        (p.congestion_point, p.direction, p.isp_index, p.price_per_mwh) for p in res.prices
    ] == [("A", "UP", 0, 100 * EUR)]
    assert (o1.payment_cap_units, o1.price_per_mwh) == (1_500_000, 100 * EUR)
    assert (o2.payment_cap_units, o2.price_per_mwh) == (1_000_000, 100 * EUR)
    assert res.welfare_units == 3_250_000  # welfare does not depend on the pricing rule


def test_exclusive_options_pick_one() -> None:
    # both options together would give 100 kW (welfare 3.35 EUR) but they are exclusive
    b = bundle(
        [request("r")],
        [offer("o", [option("a", {0: 60_000}, 50), option("b", {0: 60_000}, 60)])],
    )
    res = clear(b)
    assert [(o.option_ref, o.payment_cap_units) for o in res.orders] == [("a", 750_000)]
    assert res.welfare_units == 3_000_000 - 750_000


def test_min_activation_forces_over_delivery_when_cheaper() -> None:
    # 30 kW wanted. A: 100 kW @ 50, min 0.5 -> 50 kW, cost 0.625, welfare 0.875.
    # B: 100 kW @ 100, min 0.2 -> 30 kW, cost 0.75, welfare 0.75. A at its minimum wins.
    b = bundle(
        [request("r", isps={0: (0, 30_000)})],
        [
            offer("a", [option("x", {0: 100_000}, 50, min_ppm=500_000)]),
            offer("b", [option("x", {0: 100_000}, 100, min_ppm=200_000)]),
        ],
    )
    res = clear(b)
    assert [(o.offer_id, o.activation_ppm, o.isps[0].power_w) for o in res.orders] == [
        (uid("a"), 500_000, 50_000)
    ]
    assert res.procurement[0].procured_w == 30_000
    assert res.welfare_units == 1_500_000 - 625_000


def test_all_or_nothing_needs_the_minimum() -> None:
    aon = request("r", isps={0: (80_000, 100_000)}, aon=True)
    a = offer("a", [option("x", {0: 50_000}, 50, min_ppm=100_000)])
    b_ = offer("b", [option("x", {0: 40_000}, 190)])
    res = clear(bundle([aon], [a, b_]))
    # 90 kW reaches the 80 kW minimum: value 4.5, cost 0.625 + 1.9
    assert {o.offer_id for o in res.orders} == {uid("a"), uid("b")}
    assert res.procurement[0].procured_w == 90_000
    assert res.welfare_units == 4_500_000 - 625_000 - 1_900_000
    # without b the minimum cannot be reached: nothing is worth buying
    res2 = clear(bundle([aon], [a]))
    assert res2.orders == () and res2.procurement[0].procured_w == 0


def _rebound_market(limit: int | None):  # type: ignore[no-untyped-def]
    cps = [{"code": "T", "max_increase_w": limit}, {"code": "F", "parent": "T"}]
    return bundle(
        [request("r", cp="F", isps={0: (0, 50_000)})],
        [
            offer("a", [option("x", {0: 50_000}, 50, rebound={1: 40_000})], cp="F"),
            offer("b", [option("x", {0: 30_000}, 100)], cp="F"),
        ],
        cps=cps,
    )


def test_rebound_blocks_an_offer_at_a_limited_point() -> None:
    assert {o.offer_id for o in clear(_rebound_market(None)).orders} == {uid("a")}
    res = clear(_rebound_market(10_000))
    assert {o.offer_id for o in res.orders} == {uid("b")}


def test_hierarchy_with_sensitivity() -> None:
    def market(s1: int):  # type: ignore[no-untyped-def]
        cps = [
            {"code": "T"},
            {"code": "F1", "parent": "T", "sensitivity_ppm": s1},
            {"code": "F2", "parent": "T"},
        ]
        return bundle(
            [request("r", cp="T", isps={0: (0, 50_000)})],
            [
                offer("f1", [option("x", {0: 50_000}, 80)], cp="F1"),
                offer("f2", [option("x", {0: 50_000}, 120)], cp="F2"),
            ],
            cps=cps,
        )

    # s = 0.5: F1 relieves 25 kW at T (welfare 1.25 - 1.0 = 0.25) < F2 (2.5 - 1.5 = 1.0)
    res = clear(market(500_000))
    assert [o.offer_id for o in res.orders] == [uid("f2")]
    assert res.procurement[0].procured_w == 50_000 and res.welfare_units == 1_000_000
    # s = 1.0: F1 is the cheaper way to relieve T (welfare 1.5)
    res = clear(market(1_000_000))
    assert [o.offer_id for o in res.orders] == [uid("f1")]
    assert res.welfare_units == 1_500_000


def test_offer_below_its_effective_price_is_ineligible() -> None:
    cps = [{"code": "T"}, {"code": "F", "parent": "T", "sensitivity_ppm": 500_000}]
    # 120 EUR/MWh at s = 0.5 costs 240 EUR per relieved MWh > 200 max
    b = bundle(
        [request("r", cp="T")], [offer("f", [option("x", {0: 50_000}, 120)], cp="F")], cps=cps
    )
    assert clear(b).orders == ()


def test_up_and_down_in_one_session() -> None:
    b = bundle(
        [request("up", direction="UP"), request("down", direction="DOWN", isps={0: (0, 50_000)})],
        [
            offer("u", [option("x", {0: 100_000}, 50)], direction="UP"),
            offer("d", [option("x", {0: 50_000}, 40)], direction="DOWN"),
            offer("d2", [option("x", {0: 100_000}, 10)], direction="DOWN"),
        ],
    )
    res = clear(b)
    by_offer = {o.offer_id: o for o in res.orders}
    assert by_offer[uid("u")].request_id == uid("up")
    assert by_offer[uid("u")].direction == "UP"
    # the cheap 100 kW DOWN block over-delivers 50 kW but still beats the exact 50 kW one
    assert set(by_offer) == {uid("u"), uid("d2")}
    assert by_offer[uid("d2")].request_id == uid("down")
    procured = {p.request_id: p.procured_w for p in res.procurement}
    assert procured == {uid("up"): 100_000, uid("down"): 50_000}


def test_empty_market() -> None:
    run = clear_run(bundle([request("r")], []))
    res = run.result
    assert res.status == "empty" and res.orders == () and res.fsp_proofs == ()
    assert res.orders_root == "0x" + "00" * 32
    assert res.welfare_units == 0 and res.procurement[0].procured_w == 0


def test_no_matching_direction() -> None:
    res = clear(
        bundle(
            [request("r", direction="UP")], [offer("d", [option("x", {0: 1}, 1)], direction="DOWN")]
        )
    )
    assert res.status == "empty" and res.orders == ()


def test_budget_limits_payment_caps() -> None:
    # only 0.8 EUR of budget: O1 (0.75) fits, O2 would not
    b = bundle(
        [request("r", budget_units=800_000)],
        [
            offer("o1", [option("x", {0: 60_000}, 50)]),
            offer("o2", [option("x", {0: 60_000}, 100)]),
        ],
    )
    res = clear(b)
    assert [o.offer_id for o in res.orders] == [uid("o1")]
    assert sum(c.payment_cap_units for c in res.payment_caps) <= 800_000
