"""Property tests over random sessions: money is conserved and every cap holds."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st
from settlement_helpers import (
    SESSION_ID,
    SESSION_START,
    address_of,
    make_order,
    make_prognosis,
    profile_readings,
    uid,
)

from clearing.settlement.delivery import (
    DeliveryInputs,
    Portfolio,
    RequestBudget,
    Reservation,
    compute_delivery,
)
from clearing.settlement.meter import MeterRef
from clearing.settlement.netting import market_obligations, net_obligations
from clearing.settlement.revenue import RevenueShareContract, UserContribution, revenue_obligations
from clearing.settlement.rules import SettlementRules

FSPS = ["0x" + c * 40 for c in "abc"]
DSO = "0x" + "d" * 40
PLATFORM = "0x" + "e" * 40
CPO = "0x" + "f" * 40
USERS = ["0x" + f"{i:040x}" for i in range(1, 5)]
N_ISPS = 8


@st.composite
def sessions(draw: st.DrawFn):
    n_fsps = draw(st.integers(1, 3))
    n_requests = draw(st.integers(1, 2))
    method = draw(st.sampled_from(["nominated", "meter_before"]))
    rules = SettlementRules(
        baseline_method=method,
        meter_before_window_s=1_800,
        delivery_tolerance_ppm=draw(st.integers(0, 200_000)),
        penalty_factor_ppm=draw(st.integers(0, 3_000_000)),
        max_gap_s=draw(st.sampled_from([900, 1_800])),
    )
    readings, portfolios, prognoses, orders = [], [], [], []
    caps: dict[tuple[str, str], int] = defaultdict(int)
    for f in range(n_fsps):
        fsp = FSPS[f]
        cp = f"ean.87168590000000000{f}"
        meters = []
        for m in range(draw(st.integers(1, 2))):
            station = f"CS-{f}-{m}"
            profile = draw(st.lists(st.integers(-7_000, 11_000), min_size=N_ISPS, max_size=N_ISPS))
            rs = profile_readings(station, 1, SESSION_START, profile)
            if draw(st.booleans()):  # drop one reading: a gap
                rs.pop(draw(st.integers(0, len(rs) - 1)))
            readings += rs
            meters.append(MeterRef(station=station, evse=1))
        portfolios.append(Portfolio(fsp=fsp, congestion_point=cp, meters=tuple(meters)))
        prognoses.append(
            make_prognosis(
                {i: draw(st.integers(-5_000, 20_000)) for i in range(N_ISPS)}, fsp=fsp, cp=cp
            )
        )
        direction = draw(st.sampled_from(["UP", "DOWN"]))
        for r in range(n_requests):
            if not draw(st.booleans()):
                continue
            isps = draw(
                st.dictionaries(st.integers(2, N_ISPS - 1), st.integers(0, 15_000), min_size=1)
            )
            cap = draw(st.integers(0, 2_000_000))
            orders.append(
                make_order(
                    f"o-{f}-{r}",
                    isps=isps,
                    price_per_mwh=draw(st.integers(0, 500_000_000)),
                    payment_cap_units=cap,
                    direction=direction,
                    fsp=fsp,
                    request=f"request-{r}",
                    cp=cp,
                )
            )
            caps[(f"request-{r}", fsp)] += cap
    reservations = [
        Reservation(request_id=uid(r), fsp=fsp, reserved_units=cap + draw(st.integers(0, 10)))
        for (r, fsp), cap in sorted(caps.items())
    ]
    budgets = []
    for r in range(n_requests):
        reserved = sum(
            x.reserved_units for x in reservations if x.request_id == uid(f"request-{r}")
        )
        budgets.append(
            RequestBudget(
                request_id=uid(f"request-{r}"), budget_units=reserved + draw(st.integers(0, 10**6))
            )
        )
    inputs = DeliveryInputs(
        session_id=SESSION_ID,
        session_start_ts=SESSION_START,
        readings=tuple(readings),
        portfolios=tuple(portfolios),
        prognoses=tuple(prognoses),
        reservations=tuple(reservations),
        budgets=tuple(budgets),
    )
    keys = {f"CS-{f}-{m}": address_of(f"CS-{f}-{m}") for f in range(n_fsps) for m in range(2)}
    return inputs, orders, rules, keys


@settings(max_examples=50, deadline=None)
@given(session=sessions(), data=st.data())
def test_money_is_conserved_and_caps_hold(session, data: st.DataObject) -> None:
    inputs, orders, rules, keys = session
    outcome = compute_delivery(inputs, orders, rules, keys)
    report = outcome.report
    # payouts + refund == budget, per request
    for refund in report.refunds:
        paid = sum(p.payout_units for p in report.payouts if p.request_id == refund.request_id)
        assert paid + refund.refund_units == refund.budget_units
        assert refund.refund_units >= 0
    # no payout above its reservation
    for line in report.payouts:
        assert 0 <= line.payout_units <= line.reserved_units
    # penalties within caps, payouts within payment caps
    for o in report.orders:
        assert 0 <= o.penalty_units <= o.ordered_value_units
        assert 0 <= o.paid_units <= o.ordered_value_units
        assert 0 <= o.payout_units <= o.payment_cap_units
        assert o.uncovered_penalty_units == max(o.penalty_units - o.paid_units, 0)
        for row in o.isps:
            assert 0 <= row.credited_w <= row.ordered_w
            assert row.deficiency_w == row.ordered_w - row.credited_w
    # netting conserves value: market obligations + revenue-sharing obligations
    obligations = market_obligations(report, {b.request_id: DSO for b in inputs.budgets})
    for fsp in sorted({o.fsp for o in report.orders}):
        revenue = sum(p.payout_units for p in report.payouts if p.fsp == fsp)
        users = data.draw(st.lists(st.sampled_from(USERS), unique=True, min_size=1, max_size=3))
        contributions = [
            UserContribution(
                session_id=SESSION_ID,
                fsp=fsp,
                ev_user=u,
                shifted_wh=data.draw(st.integers(0, 5_000)),
                discharged_wh=data.draw(st.integers(0, 5_000)),
            )
            for u in users
        ]
        contracts = {
            u: RevenueShareContract(
                contract_id=uid(f"contract-{fsp}-{u}"),
                fsp=fsp,
                ev_user=u,
                cpo=CPO,
                platform=PLATFORM,
                user_incentive_mode=data.draw(st.sampled_from(["percent", "per_kwh"])),
                user_incentive_ppm=data.draw(st.integers(0, 1_000_000)),
                user_incentive_per_kwh_shifted_units=data.draw(st.integers(0, 100_000)),
                user_incentive_per_kwh_discharged_units=data.draw(st.integers(0, 200_000)),
                fleet_share_ppm=0,
                cpo_fee_per_kwh_units=data.draw(st.integers(0, 50_000)),
                platform_fee_ppm=data.draw(st.integers(0, 100_000)),
                valid_from=0,
                valid_until=2**40,
            )
            for u in users
        }
        obligations += revenue_obligations(
            session_id=SESSION_ID,
            fsp=fsp,
            fsp_revenue_units=revenue,
            contributions=contributions,
            contracts=contracts,
            at_ts=SESSION_START,
        )
    result = net_obligations(obligations, period=SESSION_ID, fee_recipient=PLATFORM)
    assert sum(result.net_amounts) + result.fee_units == 0
    expected: dict[str, int] = defaultdict(int)
    fee = 0
    for ob in obligations:
        expected[ob.payer] -= ob.amount_units
        if ob.kind == "platform_fee":
            fee += ob.amount_units
        else:
            expected[ob.payee] += ob.amount_units
    assert result.fee_units == fee
    for member in set(expected) | set(result.members):
        assert result.position(member) == expected[member]
    assert list(result.members) == sorted(result.members)
    assert sum(v for v in result.net_amounts if v > 0) <= result.gross_units
