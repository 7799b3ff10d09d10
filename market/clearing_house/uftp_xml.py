"""UFTP FlexSettlement XML (DSO -> FSP) of a delivery report, built with ``shapeshifter-uftp``.

Mapping (UFTP 3.x names):

* one ``FlexOrderSettlement`` per order and UTC day: ``OrderReference`` = order id,
  ``Period`` = UTC date, ``CongestionPoint``, ``Price`` = paid amount (credited energy x
  price), ``Penalty``, ``NetSettlement`` = Price - Penalty; money goes on the order's first
  day (an order spanning midnight repeats the reference with zero money on later days);
* per ISP: ``Start`` (1-based ISP of the UTC day), ``BaselinePower``, ``OrderedFlexPower``,
  ``ActualPower``, ``DeliveredFlexPower``, ``PowerDeficiency`` (W);
* one ``ContractSettlement`` per (request, FSP) reservation - the market's escrowed
  reservation plays the bilateral contract: ``ContractID`` = request id, per ISP
  ``ReservedPower`` = ``OrderedPower`` = ordered power (the schema needs at least one);
* amounts: token minor units / 10^6 as decimals; UFTP allows 4 fraction digits, so the XML
  is rounded for display while JSON/CSV statements carry exact units.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from shapeshifter_uftp.transport import from_xml, to_xml
from shapeshifter_uftp.uftp import (
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
    FlexSettlement,
)

from clearing.settlement.delivery import DeliveryReport, OrderSettlement

__all__ = [
    "MARKET_DSO_DOMAIN",
    "MARKET_FSP_DOMAIN",
    "flex_settlement_message",
    "flex_settlement_xml",
    "orders_settlement_message",
    "parse_flex_settlement_xml",
    "uftp_time_stamp",
]

#: The UFTP domains the market's own statements name as sender (DSO side) and recipient.
MARKET_DSO_DOMAIN = "dso.flexmarket.local"
MARKET_FSP_DOMAIN = "fsp.flexmarket.local"


def uftp_time_stamp(at: int) -> str:
    """A UFTP TimeStamp (RFC 3339, UTC, whole seconds) of Unix seconds ``at``."""
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).date().isoformat()


def _isp_of_day(ts: int, isp_s: int) -> int:
    return (ts % 86_400) // isp_s + 1


def _money(units: int) -> Decimal:
    return Decimal(units).scaleb(-6)


def _order_settlements(order: OrderSettlement, isp_s: int) -> list[FlexOrderSettlement]:
    by_day: dict[str, list[FlexOrderSettlementISP]] = defaultdict(list)
    for row in order.isps:
        by_day[_day(row.start_ts)].append(
            FlexOrderSettlementISP(
                start=_isp_of_day(row.start_ts, isp_s),
                duration=1,
                baseline_power=row.baseline_w,
                ordered_flex_power=row.ordered_w,
                actual_power=row.actual_w,
                delivered_flex_power=row.delivered_w,
                power_deficiency=row.deficiency_w,
            )
        )
    out = []
    for i, day in enumerate(sorted(by_day)):
        first = i == 0
        out.append(
            FlexOrderSettlement(
                isps=by_day[day],
                order_reference=order.order_id,
                period=day,
                baseline_reference=order.baseline_method,
                congestion_point=order.congestion_point,
                price=_money(order.paid_units if first else 0),
                penalty=_money(order.penalty_units if first else 0),
                net_settlement=_money(order.net_units if first else 0),
            )
        )
    return out


def _contract_settlements(orders: list[OrderSettlement], isp_s: int) -> list[ContractSettlement]:
    per_request: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for order in orders:
        for row in order.isps:
            per_request[order.request_id][row.start_ts] += row.ordered_w
    out = []
    for request_id in sorted(per_request):
        by_day: dict[str, list[ContractSettlementISP]] = defaultdict(list)
        for ts, power in sorted(per_request[request_id].items()):
            by_day[_day(ts)].append(
                ContractSettlementISP(
                    start=_isp_of_day(ts, isp_s),
                    duration=1,
                    reserved_power=power,
                    ordered_power=power,
                )
            )
        out.append(
            ContractSettlement(
                contract_id=request_id,
                periods=[
                    ContractSettlementPeriod(period=day, isps=isps)
                    for day, isps in sorted(by_day.items())
                ],
            )
        )
    return out


def orders_settlement_message(
    orders: Sequence[tuple[OrderSettlement, int]],
    *,
    sender_domain: str,
    recipient_domain: str,
    message_id: str,
    conversation_id: str,
    time_stamp: str,
    currency: str = "EUR",
) -> FlexSettlement:
    """A FlexSettlement of any orders, each with its session's ISP length in seconds: one
    FSP's orders of a session, or every order of a DSO's requests over a month."""
    if not orders:
        raise ValueError("orders: a FlexSettlement needs at least one order")
    days = sorted({_day(row.start_ts) for o, _ in orders for row in o.isps})
    contracts: list[ContractSettlement] = []
    for isp_s in sorted({isp_s for _, isp_s in orders}):
        contracts += _contract_settlements([o for o, s in orders if s == isp_s], isp_s)
    return FlexSettlement(
        sender_domain=sender_domain,
        recipient_domain=recipient_domain,
        time_stamp=time_stamp,
        message_id=message_id,
        conversation_id=conversation_id,
        flex_order_settlements=[fos for o, s in orders for fos in _order_settlements(o, s)],
        contract_settlements=contracts,
        period_start=days[0],
        period_end=days[-1],
        currency=currency,
    )


def flex_settlement_message(
    report: DeliveryReport,
    *,
    fsp: str,
    sender_domain: str,
    recipient_domain: str,
    message_id: str,
    conversation_id: str,
    time_stamp: str,
    currency: str = "EUR",
) -> FlexSettlement:
    """The FlexSettlement a DSO sends one FSP for the orders of a delivery report."""
    orders = [o for o in report.orders if o.fsp == fsp.lower()]
    if not orders:
        raise ValueError(f"fsp: {fsp} has no orders in session {report.session_id}")
    return orders_settlement_message(
        [(o, report.rules.isp_s) for o in orders],
        sender_domain=sender_domain,
        recipient_domain=recipient_domain,
        message_id=message_id,
        conversation_id=conversation_id,
        time_stamp=time_stamp,
        currency=currency,
    )


def flex_settlement_xml(report: DeliveryReport, **kwargs: str) -> str:
    """XML text of :func:`flex_settlement_message` (same keyword arguments)."""
    return str(to_xml(flex_settlement_message(report, **kwargs)))


def parse_flex_settlement_xml(xml: str | bytes) -> FlexSettlement:
    """Parse FlexSettlement XML back (the library's schema-bound parser checks structure)."""
    message = from_xml(xml)
    if not isinstance(message, FlexSettlement):
        raise ValueError(f"xml: expected FlexSettlement, got {type(message).__name__}")
    return message
