"""FSP agent: prognosis, offers bounded by the envelope, infeasible EVs left out,
disaggregation into EVSE schedules, shortfall causes and user incentives."""

from __future__ import annotations

import uuid

import pytest
from fleet_builders import ISP, T0, ev

from clearing.messages import FlexOrder, FlexRequest, RequestIsp
from market.agents.common import MarketSession, as_message
from market.agents.fsp import FspAgent, PricingConfig, activation_scaled

CP = "ean.871685000000000001"
FSP = "0x" + "ab" * 20
SESSION = MarketSession(
    session_id=str(uuid.UUID(int=1)), start_unix=T0, n_isps=32, gate_closure_unix=T0 - 600
)


def request(
    direction="UP", isps=range(8, 12), power=30_000, price=200_000_000, shape=(1, 3, 4, 3)
) -> FlexRequest:
    """A request over ``isps`` whose power follows ``shape`` (scaled so its peak is ``power``)."""
    top = max(shape)
    return FlexRequest(
        request_id=str(uuid.UUID(int=7)),
        session_id=SESSION.session_id,
        congestion_point=CP,
        direction=direction,
        revision=0,
        expires_at=SESSION.gate_closure_unix,
        max_price_per_mwh=price,
        budget_units=10**9,
        all_or_nothing=False,
        isps=tuple(
            RequestIsp(
                isp_index=k,
                disposition="Requested",
                min_power_w=power * shape[j % len(shape)] // top,
                max_power_w=power * shape[j % len(shape)] // top,
            )
            for j, k in enumerate(isps)
        ),
    )


def order_for(offer, option, ppm=1_000_000) -> FlexOrder:
    return FlexOrder(
        order_id=str(uuid.uuid4()),
        session_id=offer.session_id,
        offer_id=offer.offer_id,
        option_ref=option.option_ref,
        fsp=offer.fsp,
        request_id=offer.request_id,
        congestion_point=offer.congestion_point,
        direction=offer.direction,
        activation_ppm=ppm,
        isps=tuple(
            i.model_copy(update={"power_w": activation_scaled(i.power_w, ppm)}) for i in option.isps
        ),
        price_per_mwh=option.price_per_mwh,
        payment_cap_units=10**9,
    )


def fleet():
    return [ev(f"ev{i}", soc_wh=10_000 + 5_000 * i, min_price_per_mwh=10_000_000) for i in range(4)]


def agent(evs=None, **kw) -> FspAgent:
    return FspAgent(fsp_address=FSP, session=SESSION, evs=evs or fleet(), **kw)


def test_prognosis_is_the_uncontrolled_baseline_per_point():
    a = agent()
    (prog,) = a.prognoses()
    assert prog.congestion_point == CP and prog.fsp == FSP
    assert [i.power_w for i in prog.isps] == a.portfolio.baseline_w(CP)
    assert prog.isps[0].power_w == 44_000  # four EVs at 11 kW from the start
    assert prog.prognosis_id == agent().prognoses()[0].prognosis_id  # deterministic


def test_offer_options_stay_within_envelope_and_are_deliverable():
    a = agent()
    (offer,) = a.offers([request()])
    assert offer.request_id == str(uuid.UUID(int=7)) and offer.expires_at == T0 - 600
    assert offer.baseline_ref == a.prognoses()[0].prognosis_id
    env = a.envelope(CP, range(8, 12))
    assert {o.option_ref for o in offer.options} == {"shaped", "flat", "peak"}
    for option in offer.options:
        for item in option.isps:
            assert 0 < item.power_w <= env.up_w[item.isp_index]
            assert item.power_w <= 30_000  # never more than the request wants
        for ppm in (option.min_activation_ppm, 537_000, 1_000_000):
            plan = a.dispatch([order_for(offer, option, ppm)])
            assert plan.shortfalls == {} and plan.misses == []
            delivered = plan.by_point[CP].delivered_w
            for item in option.isps:
                want = activation_scaled(item.power_w, ppm)
                assert abs(delivered[item.isp_index] - want) <= 1
    assert len({o.isps for o in offer.options}) == len(offer.options)  # distinct blocks


def test_price_is_degradation_plus_user_rate_plus_margin():
    pricing = PricingConfig(
        degradation_per_kwh_units=100_000, user_compensation_per_mwh=5_000_000, margin_per_mwh=1
    )
    a = agent(pricing=pricing)
    (offer,) = a.offers([request(power=60_000)])
    for option in offer.options:
        block = a._offers[offer.offer_id].options[option.option_ref]
        flex_ws = sum(block.power_w.values()) * ISP
        degradation = -(-100_000_000 * block.discharge_wh * 3600 // flex_ws)
        # user rate: the highest of the policy floor and the users' own minimum (10 EUR/MWh)
        assert option.price_per_mwh == degradation + 10_000_000 + 1
    assert any(a._offers[offer.offer_id].options[o.option_ref].discharge_wh for o in offer.options)


def test_infeasible_ev_is_reported_before_bidding_and_never_offered():
    stuck = ev("stuck", soc_wh=1_000, departure=T0 + 3600, min_departure_soc_wh=50_000)
    with_stuck = agent([*fleet(), stuck])
    assert [(i.ev_id, i.constraint) for i in with_stuck.preference_issues] == [
        ("stuck", "min_departure_soc_wh")
    ]
    (offer,) = with_stuck.offers([request()])
    (clean,) = agent().offers([request()])
    assert [o.isps for o in offer.options] == [o.isps for o in clean.options]
    assert "stuck" not in with_stuck._offers[offer.offer_id].ev_ids
    plan = with_stuck.dispatch([order_for(offer, offer.options[0])])
    stuck_plan = plan.schedules[("cs-stuck", 1)]
    assert [p for _, _, p in stuck_plan] == with_stuck.portfolio.frames["stuck"].baseline_w


def test_users_asking_more_than_the_request_pays_are_left_out():
    pricey = ev("pricey", min_price_per_mwh=500_000_000)
    a = agent([*fleet(), pricey])
    (offer,) = a.offers([request(price=200_000_000)])
    assert "pricey" not in a._offers[offer.offer_id].ev_ids
    assert [(i.ev_id, i.constraint) for i in a.offer_issues] == [("pricey", "min_price_per_mwh")]
    only_pricey = agent([pricey])
    assert only_pricey.offers([request(price=200_000_000)]) == []


def test_down_offer_once_baseline_charging_has_stopped():
    full_early = [ev(f"d{i}", soc_wh=50_000, min_departure_soc_wh=20_000) for i in range(2)]
    a = agent(full_early)
    (offer,) = a.offers([request("DOWN", isps=range(20, 24), power=15_000)])
    assert offer.direction == "DOWN"
    env = a.envelope(CP, range(20, 24))
    for option in offer.options:
        for item in option.isps:
            assert item.power_w <= env.down_w[item.isp_index]
    plan = a.dispatch([order_for(offer, offer.options[0])])
    assert plan.shortfalls == {}
    delivered = plan.by_point[CP].delivered_w
    assert all(delivered[i.isp_index] == -i.power_w for i in offer.options[0].isps)


def test_ev_leaving_early_records_shortfall_with_its_cause_and_incentives_are_paid():
    a = agent()
    (offer,) = a.offers([request(power=80_000)])
    option = max(offer.options, key=lambda o: sum(i.power_w for i in o.isps))
    order = order_for(offer, option)
    plan = a.dispatch([order])
    assert plan.shortfalls == {}
    paid = {i.ev_id: i for i in plan.incentives}
    assert sum(i.shifted_wh for i in paid.values()) >= sum(
        i.power_w for i in option.isps
    ) * ISP // 3600 - len(paid)
    for inc in paid.values():
        assert inc.amount_units == inc.shifted_wh * inc.rate_per_mwh // 1_000_000

    gone = a.dispatch([order], fleet_now=fleet()[1:])
    causes = [s.cause for s in gone.shortfalls[CP]]
    assert causes and all("EV ev0 left before delivery" in c for c in causes)
    assert all(s.delivered_w < s.ordered_w for s in gone.shortfalls[CP])
    assert ("cs-ev0", 1) not in gone.schedules


def test_schedule_shape_for_the_ocpp_dispatcher():
    a = agent()
    (offer,) = a.offers([request(power=80_000)])
    plan = a.dispatch([order_for(offer, offer.options[0])])
    assert set(plan.schedules) == {(f"cs-ev{i}", 1) for i in range(4)}
    for periods in plan.schedules.values():
        assert [(s, d) for s, d, _ in periods] == [(T0 + k * ISP, ISP) for k in range(32)]
        assert all(isinstance(p, int) for _, _, p in periods)
    assert any(p < 0 for periods in plan.schedules.values() for _, _, p in periods)  # V2G used
    # entries carry the attribute names of the OCPP dispatcher's setpoints
    from adapters.ocpp.orders import IspSetpoint

    first = next(iter(plan.schedules.values()))[0]
    assert IspSetpoint(**first._asdict()) == IspSetpoint(T0, ISP, first.power_w)


class RecordingClient:
    """Stands in for market.client.MarketClient's method surface (same names, same args)."""

    def __init__(self, orders=()):
        self.calls: list[tuple[str, object]] = []
        self._orders = list(orders)

    def post_prognosis(self, body):
        self.calls.append(("post_prognosis", body))

    def post_offer(self, body):
        self.calls.append(("post_offer", body))

    def requests(self, session_id):
        return [{"body": request().model_dump(mode="json"), "body_hash": "0x", "submitter": "x"}]

    def orders(self, session_id, fsp=None):
        return [o.model_dump(mode="json") for o in self._orders]


async def test_transport_reads_requests_and_orders_as_the_market_serves_them():
    a = agent()
    client = RecordingClient()
    offers = await a.submit(client)
    assert [c[0] for c in client.calls] == ["post_prognosis", "post_offer"]
    plan = await a.fetch_and_dispatch(RecordingClient([order_for(offers[0], offers[0].options[0])]))
    assert plan.shortfalls == {}
    with pytest.raises(AttributeError, match="post_prognosis"):
        await a.submit(object(), [request()])
    assert as_message(FlexRequest, request()) == request()
