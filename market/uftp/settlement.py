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


def _isps(
    o: FlexOrder, paid: int, window: Window, detail: dict[str, Any] | None
) -> list[FlexOrderSettlementISP]:
    """Per ISP: the market's metering detail of the order when the reader may see it (the
    FSP's own statement), else ordered power and delivery apportioned by payout over cap."""
    sign = -1 if o.direction == "UP" else 1
    if detail is not None:
        return [
            FlexOrderSettlementISP(
                start=window.uftp_start(int(r["isp_index"])),
                duration=1,
                baseline_power=int(r["baseline_w"]),
                ordered_flex_power=sign * int(r["ordered_w"]),
                actual_power=int(r["actual_w"]),
                delivered_flex_power=sign * int(r["delivered_w"]),
                power_deficiency=int(r["deficiency_w"]),
            )
            for r in sorted(detail["isps"], key=lambda r: int(r["isp_index"]))
        ]
    out = []
    for i in sorted(o.isps, key=lambda i: i.isp_index):
        delivered = i.power_w * paid // o.payment_cap_units if o.payment_cap_units else 0
        out.append(
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
    return out


def settlement_message(
    orders: list[FlexOrder],
    payouts: dict[str, int],
    window: Window,
    points: dict[str, str],
    tx: str | None,
    details: dict[str, dict[str, Any]] | None = None,
) -> FlexSettlement:
    """The FlexSettlement of orders: NetSettlement = the on-chain payout share, ContractID =
    the escrowed request @ the transaction that paid it (``tx``); with the order's metering
    ``details`` (an FSP's own statement) Price and Penalty are the market's paid and penalty
    amounts and the ISPs its measured ones."""
    lines = []
    for o in orders:
        paid = payouts.get(o.order_id, 0)
        detail = (details or {}).get(o.order_id)
        price = int(detail["paid_units"]) if detail is not None else paid
        penalty = int(detail["penalty_units"]) if detail is not None else 0
        lines.append(
            FlexOrderSettlement(
                isps=_isps(o, paid, window, detail),
                order_reference=o.order_id,
                period=window.period(),
                contract_id=f"{o.request_id}@{tx}" if tx else o.request_id,
                congestion_point=points.get(o.congestion_point, o.congestion_point),
                price=Decimal(price).scaleb(-6),
                penalty=Decimal(penalty).scaleb(-6),
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


def settle(
    ctx: GatewayContext,
    orders: list[FlexOrder],
    window: Window,
    statements: list[dict[str, Any]] | None = None,
) -> FlexSettlement:
    """The FlexSettlement of ``orders`` at the chain's payouts (``statements``: the FSP's own
    settlement rows, whose per-order metering detail fills the ISPs)."""
    points = {code: uftp for uftp, code in ctx.cfg.congestion_points.items()}
    reservations, tx = onchain_payouts(ctx, window.session_id)
    details = {str(r["order_id"]): r for r in statements or [] if r.get("order_id") and "isps" in r}
    payouts = order_payouts(orders, reservations)
    return settlement_message(orders, payouts, window, points, tx, details)
