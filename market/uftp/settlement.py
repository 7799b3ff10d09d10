"""The FlexSettlement of a final session, at the payouts the chain holds.

Why from the chain: the amounts a UFTP peer is told it was paid (or, for a DSO, that it paid)
are the attested payouts of the reservations (``DeliveryAttested``, or the arbiter's
``DisputeResolved``), and each line names the transaction that made them withdrawable, so the
peer can check them against the chain without trusting the gateway.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shapeshifter_uftp.uftp import (
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
    FlexSettlement,
)

from clearing.encoding import hex32, uuid_to_bytes32
from clearing.messages import FlexOrder
from market.uftp.context import GatewayContext
from market.uftp.convert import Window


def order_payouts(orders: list[FlexOrder], reservations: list[dict[str, Any]]) -> dict[str, int]:
    """Each order's share of the on-chain payouts: its (request, FSP) reservation's payout,
    split by payment cap when several orders share one (remainder to the last), so the
    shares add up to the payouts exactly."""
    paid = {(str(r["request_id"]), str(r["fsp"])): int(r["payout_units"]) for r in reservations}
    groups: dict[tuple[str, str], list[FlexOrder]] = {}
    for o in orders:
        groups.setdefault((hex32(uuid_to_bytes32(o.request_id)), o.fsp), []).append(o)
    out: dict[str, int] = {}
    for key, group in groups.items():
        total = paid.get(key, 0)
        caps = sum(o.payment_cap_units for o in group) or 1
        left = total
        for i, o in enumerate(group):
            share = left if i == len(group) - 1 else total * o.payment_cap_units // caps
            out[o.order_id] = share
            left -= share
    return out


def _field(row: Any, name: str, index: int) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def onchain_payouts(
    ctx: GatewayContext, session_id: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The session's reservations with their attested payouts, and the transaction that made
    them withdrawable, as the chain has them (``GET /sessions/{id}/evidence`` reads the chain
    at request time)."""
    events = ctx.reader._get_object(f"/sessions/{session_id}/evidence")["events"]
    cleared = [e for e in events if e["event"] == "ClearingPosted"]
    attested = [e for e in events if e["event"] in ("DeliveryAttested", "DisputeResolved")]
    if not cleared or not attested:
        return [], None
    reservations = cleared[-1]["args"]["reservations"]
    payouts = attested[-1]["args"]["payouts"]
    rows = [
        {
            "request_id": str(_field(r, "requestId", 0)).lower(),
            "fsp": str(_field(r, "fsp", 1)).lower(),
            "payout_units": int(p),
        }
        for r, p in zip(reservations, payouts, strict=True)
    ]
    final = [e for e in events if e["event"] == "SessionFinalized"]
    tx = str((final or attested)[-1]["tx_hash"])
    return rows, tx


def settlement_message(
    orders: list[FlexOrder],
    payouts: dict[str, int],
    window: Window,
    points: dict[str, str],
    tx: str | None,
) -> FlexSettlement:
    """The FlexSettlement of orders: Price = NetSettlement = the on-chain payout, ContractID =
    the escrowed request @ the transaction that paid it (``tx``);
    per ISP the ordered power and, apportioned by payout over the order's cap, the delivered
    power (the per-ISP metering detail stays in the market's delivery bundle)."""
    lines = []
    for o in orders:
        paid = payouts.get(o.order_id, 0)
        isps = []
        for i in sorted(o.isps, key=lambda i: i.isp_index):
            sign = -1 if o.direction == "UP" else 1
            delivered = i.power_w * paid // o.payment_cap_units if o.payment_cap_units else 0
            isps.append(
                FlexOrderSettlementISP(
                    start=window.uftp_start(i.isp_index),
                    duration=1,
                    baseline_power=0,
                    ordered_flex_power=sign * i.power_w,
                    actual_power=sign * delivered,
                    delivered_flex_power=sign * delivered,
                    power_deficiency=i.power_w - delivered,
                )
            )
        lines.append(
            FlexOrderSettlement(
                isps=isps,
                order_reference=o.order_id,
                period=window.period(),
                contract_id=f"{o.request_id}@{tx}" if tx else o.request_id,
                congestion_point=points.get(o.congestion_point, o.congestion_point),
                price=Decimal(paid).scaleb(-6),
                penalty=Decimal(0),
                net_settlement=Decimal(paid).scaleb(-6),
            )
        )
    reserved: dict[str, dict[int, int]] = {}
    for o in orders:
        per_isp = reserved.setdefault(o.request_id, {})
        for i in o.isps:
            sign = -1 if o.direction == "UP" else 1
            per_isp[i.isp_index] = per_isp.get(i.isp_index, 0) + sign * i.power_w
    contracts = [
        ContractSettlement(
            contract_id=request_id,
            periods=[
                ContractSettlementPeriod(
                    period=window.period(),
                    isps=[
                        ContractSettlementISP(
                            start=window.uftp_start(k), reserved_power=p, ordered_power=p
                        )
                        for k, p in sorted(per_isp.items())
                    ],
                )
            ],
        )
        for request_id, per_isp in sorted(reserved.items())
    ]
    return FlexSettlement(
        flex_order_settlements=lines,
        contract_settlements=contracts,
        period_start=window.period(),
        period_end=window.period(),
        currency="EUR",
    )


def settle(ctx: GatewayContext, orders: list[FlexOrder], window: Window) -> FlexSettlement:
    """The FlexSettlement of ``orders`` at the chain's payouts."""
    points = {code: uftp for uftp, code in ctx.cfg.congestion_points.items()}
    reservations, tx = onchain_payouts(ctx, window.session_id)
    return settlement_message(orders, order_payouts(orders, reservations), window, points, tx)
