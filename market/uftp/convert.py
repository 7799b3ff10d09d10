"""UFTP messages <-> the market's integer messages: pure functions, no I/O.

Mapping (UFTP 3.x, Shapeshifter names):

* ISPs: UFTP numbers them per local day of ``TimeZone`` from 1 (``Period`` = that day,
  ``ISP-Duration`` = the session's ISP); the market numbers them from 0 at the session's
  delivery start. A session that spans two local days does not fit one UFTP message.
* Power sign: UFTP power is consumption-positive, so the market's UP (less consumption,
  more injection) is negative UFTP power and DOWN positive; market powers are magnitudes.
* Price: a UFTP option's ``Price`` is the total for the option (EUR, 4 decimals); the market's
  is token units (10^6 per EUR) per MWh of the option's energy, rounded down.
* Ids: the market ids of what a UFTP message creates are UUIDv5 of the sender's domain and
  the message id, so a re-sent message maps to the same market ids.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from shapeshifter_uftp.uftp import (
    AvailableRequested,
    FlexOfferOptionISP,
    FlexOrderISP,
    FlexRequestISP,
)
from shapeshifter_uftp.uftp import (
    FlexOffer as UftpOffer,
)
from shapeshifter_uftp.uftp import (
    FlexOfferOption as UftpOption,
)
from shapeshifter_uftp.uftp import (
    FlexOrder as UftpOrder,
)
from shapeshifter_uftp.uftp import (
    FlexRequest as UftpRequest,
)

from clearing.messages import (
    Direction,
    FlexOffer,
    FlexOfferOption,
    FlexOrder,
    FlexRequest,
    IspPower,
    RequestIsp,
)

UNITS_PER_EUR = 1_000_000
PPM = 1_000_000


class ConvertError(ValueError):
    """A UFTP message that has no market meaning: ``reason`` is the UFTP rejection reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Window:
    """A session's delivery window (from ``GET /sessions/{id}``) and the UFTP time zone."""

    session_id: str
    delivery_start: int
    delivery_end: int
    isp_s: int
    gate_closure: int
    time_zone: str

    @classmethod
    def of(cls, row: dict[str, object], time_zone: str) -> Window:
        return cls(
            session_id=str(row["id"]),
            delivery_start=int(str(row["delivery_start"])),
            delivery_end=int(str(row["delivery_end"])),
            isp_s=int(str(row["isp_s"])),
            gate_closure=int(str(row["gate_closure"])),
            time_zone=time_zone,
        )

    @property
    def n_isps(self) -> int:
        return (self.delivery_end - self.delivery_start) // self.isp_s

    def _local(self, ts: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts, ZoneInfo(self.time_zone))

    def period(self) -> str:
        """The local day of the whole session (refused if it spans two)."""
        first = self._local(self.delivery_start).date()
        last = self._local(self.delivery_end - 1).date()
        if first != last:
            raise ConvertError("Period Out Of Bounds", f"session spans {first} and {last}")
        return first.isoformat()

    def _midnight(self) -> int:
        day = self._local(self.delivery_start).date()
        return int(dt.datetime.combine(day, dt.time(), ZoneInfo(self.time_zone)).timestamp())

    def uftp_start(self, isp_index: int) -> int:
        return (self.delivery_start + isp_index * self.isp_s - self._midnight()) // self.isp_s + 1

    def market_index(self, period: object, start: int) -> int:
        if str(period) != self.period():
            raise ConvertError("Period Out Of Bounds", f"{period} is not the session's day")
        index = start - self.uftp_start(0)
        if not 0 <= index < self.n_isps:
            raise ConvertError("ISPs Out Of Bounds", f"ISP {start} is outside the session")
        return index

    def isp_duration(self) -> str:
        return f"PT{self.isp_s // 60}M"


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def unix(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def message_uuid(domain: str, message_id: str, what: str = "") -> str:
    """The market id of what a UFTP message creates (stable across re-sends)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"uftp:{domain}:{message_id}:{what}"))


def _signed(direction: str, power_w: int) -> int:
    return -power_w if direction == "UP" else power_w


def _magnitude(direction: str, power: int) -> int:
    """A UFTP power in the request's direction as a market magnitude."""
    value = -power if direction == "UP" else power
    if value < 0:
        raise ConvertError("Invalid Message", f"power {power} W is against the direction")
    return value


def _expand(window: Window, period: object, start: int, duration: int) -> list[int]:
    return [window.market_index(period, start + k) for k in range(duration)]


# ---- market -> UFTP --------------------------------------------------------------------------


def to_uftp_request(req: FlexRequest, window: Window, uftp_point: str) -> UftpRequest:
    """A market request (the DSO's) as the FlexRequest an AGR receives."""
    isps = [
        FlexRequestISP(
            disposition=AvailableRequested(i.disposition),
            min_power=min(
                _signed(req.direction, i.min_power_w), _signed(req.direction, i.max_power_w)
            ),
            max_power=max(
                _signed(req.direction, i.min_power_w), _signed(req.direction, i.max_power_w)
            ),
            start=window.uftp_start(i.isp_index),
            duration=1,
        )
        for i in sorted(req.isps, key=lambda i: i.isp_index)
    ]
    return UftpRequest(
        isp_duration=window.isp_duration(),
        time_zone=window.time_zone,
        period=window.period(),
        congestion_point=uftp_point,
        isps=isps,
        revision=max(1, req.revision),
        expiration_date_time=iso(req.expires_at),
    )


def to_uftp_order(
    order: FlexOrder, window: Window, uftp_point: str, offer_message_id: str | None
) -> UftpOrder:
    """A cleared market order as the FlexOrder its AGR receives; ``Price`` is the most the
    order can pay (its reserved payment cap)."""
    return UftpOrder(
        isp_duration=window.isp_duration(),
        time_zone=window.time_zone,
        period=window.period(),
        congestion_point=uftp_point,
        isps=[
            FlexOrderISP(
                power=_signed(order.direction, i.power_w), start=window.uftp_start(i.isp_index)
            )
            for i in sorted(order.isps, key=lambda i: i.isp_index)
        ],
        flex_offer_message_id=offer_message_id,
        unsolicited=offer_message_id is None or None,
        price=Decimal(order.payment_cap_units).scaleb(-6),
        currency="EUR",
        order_reference=order.order_id,
        option_reference=order.option_ref,
        activation_factor=(Decimal(order.activation_ppm) / PPM).quantize(
            Decimal("0.01"), rounding=ROUND_DOWN
        )
        or Decimal("0.01"),
    )


def to_uftp_offer(
    offer: FlexOffer, window: Window, uftp_point: str, request_message_id: str | None
) -> UftpOffer:
    """A market offer as the FlexOffer a UFTP DSO receives."""
    options = []
    for o in offer.options:
        energy_wh = sum(i.power_w for i in o.isps) * window.isp_s // 3600
        total_units = o.price_per_mwh * energy_wh // PPM
        options.append(
            UftpOption(
                isps=[
                    FlexOfferOptionISP(
                        power=_signed(offer.direction, i.power_w),
                        start=window.uftp_start(i.isp_index),
                    )
                    for i in sorted(o.isps, key=lambda i: i.isp_index)
                ],
                option_reference=o.option_ref,
                price=Decimal(total_units).scaleb(-6),
                min_activation_factor=max(
                    Decimal("0.01"),
                    (Decimal(o.min_activation_ppm) / PPM).quantize(Decimal("0.01")),
                ),
            )
        )
    return UftpOffer(
        isp_duration=window.isp_duration(),
        time_zone=window.time_zone,
        period=window.period(),
        congestion_point=uftp_point,
        offer_options=options,
        expiration_date_time=iso(offer.expires_at),
        unsolicited=request_message_id is None,
        flex_request_message_id=request_message_id,
        currency="EUR",
    )


# ---- UFTP -> market --------------------------------------------------------------------------


def _check_frame(msg: UftpOffer | UftpRequest, window: Window) -> None:
    if str(msg.isp_duration) != window.isp_duration():
        raise ConvertError(
            "ISP Duration Rejected", f"{msg.isp_duration} != {window.isp_duration()}"
        )
    if msg.time_zone != window.time_zone:
        raise ConvertError("TimeZone Rejected", f"{msg.time_zone} != {window.time_zone}")


def from_uftp_offer(msg: UftpOffer, *, window: Window, fsp: str, request: FlexRequest) -> FlexOffer:
    """An AGR's FlexOffer (answering ``request``) as the market offer committed for it."""
    _check_frame(msg, window)
    if msg.currency != "EUR":
        raise ConvertError("Invalid Message", f"currency {msg.currency} is not EUR")
    options = []
    for o in msg.offer_options:
        powers: dict[int, int] = {}
        for isp in o.isps:
            for idx in _expand(window, msg.period, isp.start, isp.duration):
                if idx in powers:
                    raise ConvertError("ISP Conflict", f"ISP {isp.start} appears twice")
                powers[idx] = _magnitude(request.direction, isp.power)
        energy_wh = sum(powers.values()) * window.isp_s // 3600
        if energy_wh <= 0:
            raise ConvertError("Invalid Message", f"option {o.option_reference} offers no energy")
        total_units = int((Decimal(o.price) * UNITS_PER_EUR).to_integral_value(ROUND_DOWN))
        options.append(
            FlexOfferOption(
                option_ref=o.option_reference,
                isps=tuple(IspPower(isp_index=k, power_w=v) for k, v in sorted(powers.items())),
                price_per_mwh=total_units * PPM // energy_wh,
                min_activation_ppm=int(Decimal(o.min_activation_factor) * PPM),
            )
        )
    return FlexOffer(
        offer_id=message_uuid(str(msg.sender_domain), str(msg.message_id), "offer"),
        session_id=window.session_id,
        fsp=fsp,
        request_id=request.request_id,
        congestion_point=request.congestion_point,
        direction=request.direction,
        expires_at=unix(msg.expiration_date_time),
        options=tuple(options),
    )


def from_uftp_request(
    msg: UftpRequest,
    *,
    window: Window,
    market_point: str,
    max_price_per_mwh: int,
    budget_units: int,
    all_or_nothing: bool,
) -> FlexRequest:
    """A UFTP DSO's FlexRequest as the market request escrowed for it. The direction is that
    of the Requested ISPs (all must agree); the price terms come from the DSO's onboarding."""
    _check_frame(msg, window)
    requested = [i for i in msg.isps if i.disposition == AvailableRequested.REQUESTED]
    if not requested:
        raise ConvertError("Invalid Message", "no ISP has Disposition=Requested")
    ups = {i.max_power <= 0 for i in requested}
    if len(ups) != 1 or any(i.min_power < 0 < i.max_power for i in requested):
        raise ConvertError("Invalid Message", "Requested ISPs must all be one direction")
    direction: Direction = "UP" if ups.pop() else "DOWN"
    isps: dict[int, RequestIsp] = {}
    for i in msg.isps:
        lo, hi = (-i.max_power, -i.min_power) if direction == "UP" else (i.min_power, i.max_power)
        for idx in _expand(window, msg.period, i.start, i.duration):
            if idx in isps:
                raise ConvertError("ISP Conflict", f"ISP {i.start} appears twice")
            isps[idx] = RequestIsp(
                isp_index=idx,
                disposition=str(i.disposition or "Available"),  # type: ignore[arg-type]
                min_power_w=max(lo, 0),
                max_power_w=max(hi, 0),
            )
    return FlexRequest(
        request_id=message_uuid(str(msg.sender_domain), str(msg.message_id), "request"),
        session_id=window.session_id,
        congestion_point=market_point,
        direction=direction,
        revision=msg.revision,
        expires_at=min(unix(msg.expiration_date_time), window.gate_closure),
        max_price_per_mwh=max_price_per_mwh,
        budget_units=budget_units,
        all_or_nothing=all_or_nothing,
        isps=tuple(isps[k] for k in sorted(isps)),
    )
