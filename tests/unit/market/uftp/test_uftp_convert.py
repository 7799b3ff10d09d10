"""UFTP <-> market conversion: ISP numbering per local day (DST included), power signs,
total price <-> price per MWh, and the rejection reasons of messages with no market meaning."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from shapeshifter_uftp.uftp import (
    AvailableRequested,
    FlexOfferOptionISP,
    FlexRequestISP,
)
from shapeshifter_uftp.uftp import FlexOffer as UftpOffer
from shapeshifter_uftp.uftp import FlexOfferOption as UftpOption
from shapeshifter_uftp.uftp import FlexRequest as UftpRequest

from clearing.encoding import hex32, uuid_to_bytes32
from clearing.messages import FlexOrder, FlexRequest, IspPower, RequestIsp
from market.uftp.convert import (
    ConvertError,
    Window,
    from_uftp_offer,
    from_uftp_request,
    to_uftp_order,
    to_uftp_request,
)
from market.uftp.settlement import order_payouts

TZ = "Europe/Amsterdam"


def _ts(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def _window(start: str, n: int = 4, isp_s: int = 900) -> Window:
    t = _ts(start)
    return Window(str(uuid.uuid4()), t, t + n * isp_s, isp_s, t - 600, TZ)


def _request(window: Window, direction: str = "UP") -> FlexRequest:
    return FlexRequest(
        request_id=str(uuid.uuid4()),
        session_id=window.session_id,
        congestion_point="CP-1",
        direction=direction,  # type: ignore[arg-type]
        revision=1,
        expires_at=window.gate_closure,
        max_price_per_mwh=400_000_000,
        budget_units=50_000_000,
        all_or_nothing=False,
        isps=tuple(
            RequestIsp(isp_index=i, disposition="Requested", min_power_w=0, max_power_w=20_000)
            for i in range(window.n_isps)
        ),
    )


def _offer(window: Window, powers: list[int], price: str = "0.5", **kw: object) -> UftpOffer:
    return UftpOffer(
        sender_domain="agr.example.com",
        message_id=str(uuid.uuid4()),
        isp_duration=kw.pop("isp_duration", "PT15M"),  # type: ignore[arg-type]
        time_zone=TZ,
        period=window.period(),
        congestion_point="ean.871685900000000001",
        expiration_date_time="2026-12-06T05:00:00Z",
        flex_request_message_id=str(uuid.uuid4()),
        offer_options=[
            UftpOption(
                option_reference="a",
                price=Decimal(price),
                isps=[
                    FlexOfferOptionISP(power=p, start=window.uftp_start(k))
                    for k, p in enumerate(powers)
                ],
            )
        ],
    )


def test_isp_numbers_follow_the_local_day_including_dst() -> None:
    winter = _window("2026-12-06T05:00:00+00:00")  # 06:00 CET
    assert winter.period() == "2026-12-06"
    assert [winter.uftp_start(k) for k in range(4)] == [25, 26, 27, 28]
    assert winter.market_index("2026-12-06", 27) == 2
    # 29 March 2026: clocks jump 02:00 -> 03:00; 03:00 CEST is 2 h after local midnight
    spring = _window("2026-03-29T01:00:00+00:00")
    assert spring.uftp_start(0) == 9
    with pytest.raises(ConvertError) as outside:
        winter.market_index("2026-12-06", 29)
    assert outside.value.reason == "ISPs Out Of Bounds"


def test_a_session_across_local_midnight_has_no_uftp_period() -> None:
    with pytest.raises(ConvertError) as exc:
        _window("2026-12-06T22:30:00+00:00").period()  # 23:30 .. 00:30 CET
    assert exc.value.reason == "Period Out Of Bounds"


def test_request_power_is_consumption_signed() -> None:
    w = _window("2026-12-06T05:00:00+00:00")
    up = to_uftp_request(_request(w, "UP"), w, "ean.871685900000000001")
    assert [(i.min_power, i.max_power) for i in up.isps] == [(-20_000, 0)] * 4
    down = to_uftp_request(_request(w, "DOWN"), w, "ean.871685900000000001")
    assert [(i.min_power, i.max_power) for i in down.isps] == [(0, 20_000)] * 4
    assert up.period == "2026-12-06" and up.isp_duration == "PT15M"


def test_offer_total_price_becomes_price_per_mwh() -> None:
    w = _window("2026-12-06T05:00:00+00:00")
    req = _request(w)
    fsp = "0x" + "ab" * 20
    offer = from_uftp_offer(_offer(w, [-5_000] * 4, "0.5"), window=w, fsp=fsp, request=req)
    (option,) = offer.options
    # 4 x 5 kW x 15 min = 5 kWh for 0.50 EUR = 500 000 units -> 100 EUR/MWh
    assert option.price_per_mwh == 100_000_000
    assert [i.power_w for i in option.isps] == [5_000] * 4
    assert offer.direction == "UP" and offer.request_id == req.request_id
    again = from_uftp_offer(_offer(w, [-5_000] * 4, "0.5"), window=w, fsp=fsp, request=req)
    assert again.offer_id != offer.offer_id  # another message, another offer


@pytest.mark.parametrize(
    ("powers", "kw", "reason"),
    [
        ([5_000] * 4, {}, "Invalid Message"),  # more consumption answering an UP request
        ([-5_000] * 4, {"isp_duration": "PT5M"}, "ISP Duration Rejected"),
        ([0] * 4, {}, "Invalid Message"),
    ],
)
def test_offers_without_market_meaning_are_rejected(
    powers: list[int], kw: dict[str, object], reason: str
) -> None:
    w = _window("2026-12-06T05:00:00+00:00")
    with pytest.raises(ConvertError) as exc:
        fsp = "0x" + "ab" * 20
        from_uftp_offer(_offer(w, powers, **kw), window=w, fsp=fsp, request=_request(w))
    assert exc.value.reason == reason


def _uftp_request(w: Window, ranges: list[tuple[int, int]]) -> UftpRequest:
    starts = [w.uftp_start(k) for k in range(len(ranges))]
    return UftpRequest(
        sender_domain="dso.example.com",
        message_id=str(uuid.uuid4()),
        isp_duration="PT15M",
        time_zone=TZ,
        period=w.period(),
        congestion_point="ean.871685900000000001",
        revision=1,
        expiration_date_time="2026-12-06T06:00:00Z",
        isps=[
            FlexRequestISP(
                disposition=AvailableRequested.REQUESTED, min_power=lo, max_power=hi, start=s
            )
            for s, (lo, hi) in zip(starts, ranges, strict=True)
        ],
    )


def test_dso_request_direction_and_terms() -> None:
    w = _window("2026-12-06T05:00:00+00:00")
    terms = {"max_price_per_mwh": 1, "budget_units": 7, "all_or_nothing": True}
    down = from_uftp_request(
        _uftp_request(w, [(1_000, 4_000)] * 2), window=w, market_point="CP-1", **terms
    )
    assert down.direction == "DOWN" and down.budget_units == 7 and down.all_or_nothing
    assert [(i.min_power_w, i.max_power_w) for i in down.isps] == [(1_000, 4_000)] * 2
    assert down.expires_at == w.gate_closure  # never after the gate
    with pytest.raises(ConvertError) as mixed:
        from_uftp_request(
            _uftp_request(w, [(-4_000, 0), (0, 4_000)]), window=w, market_point="CP-1", **terms
        )
    assert mixed.value.reason == "Invalid Message"


def _order(request_id: str, fsp: str, cap: int) -> FlexOrder:
    return FlexOrder(
        order_id=str(uuid.uuid4()),
        session_id=str(uuid.uuid4()),
        offer_id=str(uuid.uuid4()),
        option_ref="a",
        fsp=fsp,
        request_id=request_id,
        congestion_point="CP-1",
        direction="UP",
        activation_ppm=500_000,
        isps=(IspPower(isp_index=0, power_w=1_000),),
        price_per_mwh=1,
        payment_cap_units=cap,
    )


def test_order_payouts_add_up_to_the_reservation_payout() -> None:
    rid, fsp = str(uuid.uuid4()), "0x" + "cd" * 20
    orders = [_order(rid, fsp, 1), _order(rid, fsp, 1), _order(rid, fsp, 1)]
    shares = order_payouts(
        orders, [{"request_id": hex32(uuid_to_bytes32(rid)), "fsp": fsp, "payout_units": 100}]
    )
    assert sum(shares.values()) == 100 and sorted(shares.values()) == [33, 33, 34]
    order = to_uftp_order(orders[0], _window("2026-12-06T05:00:00+00:00"), "ean.1", None)
    assert order.unsolicited is True and order.activation_factor == Decimal("0.50")
