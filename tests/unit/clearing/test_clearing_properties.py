"""Property tests on random small bundles (hypothesis, bounded examples, exact MIP: gap 0)."""

from __future__ import annotations

from typing import Any

from clearing_builders import SESSION, uid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearing.bundle import InputBundle, ResultBundle
from clearing.engine import clear
from clearing.greedy import greedy
from clearing.prepare import prepare
from clearing.units import PPM
from clearing.verifier import verify

EUR = 1_000_000
CPS = ("T", "F1", "F2")
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def bundles(draw: Any) -> InputBundle:
    n_isp = 4
    limit = draw(st.one_of(st.none(), st.integers(0, 150_000)))
    cps = [
        {"code": "T", "max_increase_w": limit, "max_decrease_w": limit},
        {"code": "F1", "parent": "T", "sensitivity_ppm": draw(st.integers(500_000, PPM))},
        {"code": "F2", "parent": "T"},
    ]
    requests = []
    for cp in CPS:
        for direction in ("UP", "DOWN"):
            if draw(st.integers(0, 2)) == 0:
                continue
            isps = draw(st.lists(st.integers(0, n_isp - 1), min_size=1, max_size=3, unique=True))
            aon = draw(st.booleans())
            rows = []
            for t in sorted(isps):
                mx = draw(st.integers(1, 100)) * 1_000
                mn = draw(st.integers(0, mx // 1_000)) * 1_000 if aon else 0
                rows.append(
                    {
                        "isp_index": t,
                        "disposition": "Requested",
                        "min_power_w": mn,
                        "max_power_w": mx,
                    }
                )
            requests.append(
                {
                    "request_id": uid(f"r-{cp}-{direction}"),
                    "session_id": SESSION,
                    "congestion_point": cp,
                    "direction": direction,
                    "revision": 0,
                    "expires_at": 1,
                    "max_price_per_mwh": draw(st.integers(100, 400)) * EUR,
                    "budget_units": draw(st.sampled_from([10**12, draw(st.integers(0, 20 * EUR))])),
                    "all_or_nothing": aon,
                    "isps": rows,
                }
            )
    offers = []
    for i in range(draw(st.integers(2, 7))):
        cp = draw(st.sampled_from(CPS))
        direction = draw(st.sampled_from(["UP", "DOWN"]))
        options = []
        for j in range(draw(st.integers(1, 3))):
            isps = draw(st.lists(st.integers(0, n_isp - 1), min_size=1, max_size=3, unique=True))
            reb = draw(st.lists(st.integers(0, n_isp - 1), max_size=2, unique=True))
            options.append(
                {
                    "option_ref": f"o{j}",
                    "isps": [
                        {"isp_index": t, "power_w": draw(st.integers(1, 60)) * 1_000}
                        for t in sorted(isps)
                    ],
                    "price_per_mwh": draw(st.integers(10, 200)) * EUR,
                    "min_activation_ppm": draw(st.sampled_from([PPM, 100_000, 500_000, 1])),
                    "rebound": [
                        {"isp_index": t, "power_w": draw(st.integers(1, 40)) * 1_000}
                        for t in sorted(reb)
                    ],
                }
            )
        offers.append(
            {
                "offer_id": uid(f"offer-{i}"),
                "session_id": SESSION,
                "fsp": "0x" + format(draw(st.integers(1, 3)), "040x"),
                "congestion_point": cp,
                "direction": direction,
                "expires_at": 1,
                "options": options,
            }
        )
    return InputBundle.model_validate(
        {
            "session_id": SESSION,
            "isp_count": n_isp,
            "start_time": 0,
            "congestion_points": cps,
            "requests": requests,
            "offers": offers,
            "rules": {
                "pricing_rule": "pay_as_clear" if draw(st.booleans()) else "pay_as_bid",
                "time_limit_s": 30,
                "mip_gap_ppm": 0,
            },
        }
    )


def _offer_options(b: InputBundle) -> dict[tuple[str, str], Any]:
    return {(o.offer_id, x.option_ref): (o, x) for o in b.offers for x in o.options}


@SETTINGS
@given(bundles())
def test_no_over_procurement_and_orders_within_offers(b: InputBundle) -> None:
    res = clear(b)
    prep = prepare(b)
    requests = {r.request_id: r for r in prep.requests}
    for p in res.procurement:
        mn, mx = requests[p.request_id].requested[p.isp_index]
        assert 0 <= p.procured_w <= mx
        if requests[p.request_id].all_or_nothing:
            assert p.procured_w == 0 or p.procured_w >= mn
    opts = _offer_options(b)
    per_offer: dict[str, int] = {}
    for o in res.orders:
        offer, x = opts[(o.offer_id, o.option_ref)]
        per_offer[o.offer_id] = per_offer.get(o.offer_id, 0) + 1
        assert x.min_activation_ppm <= o.activation_ppm <= PPM
        offered = {i.isp_index: i.power_w for i in x.isps}
        for isp in o.isps:
            assert 0 <= isp.power_w <= offered[isp.isp_index]
        assert o.direction == offer.direction == requests[o.request_id].direction
    assert all(n == 1 for n in per_offer.values()), "exclusive options"


@SETTINGS
@given(bundles())
def test_individual_rationality_both_sides_and_budgets(b: InputBundle) -> None:
    res = clear(b)
    prep = prepare(b)
    fund_s = {
        (prep.options[k].offer_id, prep.options[k].option_ref): prep.options[k].fund_sensitivity_ppm
        for k in range(len(prep.options))
    }
    requests = {r.request_id: r for r in b.requests}
    opts = _offer_options(b)
    spent: dict[str, int] = {}
    for o in res.orders:
        _, x = opts[(o.offer_id, o.option_ref)]
        req = requests[o.request_id]
        energy = sum(i.power_w * 900 // 3600 for i in o.isps)
        # FSP: never paid below its bid
        assert o.price_per_mwh >= x.price_per_mwh
        assert o.payment_cap_units >= energy * x.price_per_mwh // PPM
        # DSO: never pays above its max price per relieved MWh at its point
        s = fund_s[(o.offer_id, o.option_ref)]
        assert o.payment_cap_units * PPM * PPM <= energy * s * req.max_price_per_mwh
        spent[o.request_id] = spent.get(o.request_id, 0) + o.payment_cap_units
    for rid, total in spent.items():
        assert total <= requests[rid].budget_units
    for p in res.prices:
        req = next(
            r
            for r in b.requests
            if (r.congestion_point, r.direction) == (p.congestion_point, p.direction)
        )
        assert p.price_per_mwh <= req.max_price_per_mwh


@SETTINGS
@given(bundles())
def test_welfare_at_least_greedy(b: InputBundle) -> None:
    res = clear(b)
    prep = prepare(b)
    g = greedy(prep).evaluation
    # integer rounding (1 Wh and 1 unit floors, ppm activations) may cost a few hundred units
    tolerance = 1_000 * (len(res.procurement) + len(prep.options) + 1)
    assert res.welfare_units >= g.welfare_units - tolerance
    assert res.welfare_units >= -tolerance  # floors can turn a marginal award slightly negative


@SETTINGS
@given(bundles())
def test_deterministic_bytes(b: InputBundle) -> None:
    assert clear(b).to_canonical() == clear(b).to_canonical()


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(obj, dict):
        return [p for k in sorted(obj) for p in _leaves(obj[k], (*path, k))]
    if isinstance(obj, list | tuple):
        return [p for i, v in enumerate(obj) for p in _leaves(v, (*path, i))]
    return [path]


def _tamper(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        if value.startswith("0x"):
            return value[:-1] + ("1" if value[-1] != "1" else "2")
        if len(value) == 36 and value.count("-") == 4:  # a UUID: another valid one
            return value[:-1] + ("1" if value[-1] != "1" else "2")
        return value + "x"
    raise AssertionError(type(value))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(bundles(), st.integers(0, 10**6))
def test_verify_flags_any_single_tampered_field(b: InputBundle, pick: int) -> None:
    res = clear(b)
    assert verify(b, res) == []
    doc = res.model_dump(mode="python")
    leaves = [p for p in _leaves(doc) if p]
    path = leaves[pick % len(leaves)]
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if isinstance(target, tuple):  # model_dump gives tuples for tuple fields
        parent: Any = doc
        for key in path[:-2]:
            parent = parent[key]
        target = list(target)
        parent[path[-2]] = target
    target[path[-1]] = _tamper(target[path[-1]])
    diffs = verify(b, doc)
    assert diffs, f"tampering {path} went unnoticed"
    assert isinstance(ResultBundle, type)
