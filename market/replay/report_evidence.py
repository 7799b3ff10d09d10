"""What ``report.html`` shows beyond ``report.json``: offers, orders, session times, the chain
evidence (addresses, roots, transactions), the audit per check, delivery per station, and where
money moved off-chain.

Why apart from ``report.json``: that file is canonical and byte-identical across runs of one
scenario and seed; transaction hashes and the audit's notes are not part of that promise, so
they go to the HTML only (``ReportExtras``), collected here while the chain is still up.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from adapters.chain.session_view import SESSION_EVENTS
from market.replay.context import ReplayContext, SessionRun

_ANCHORS = ("inputHash", "resultRoot", "deliveryRoot", "correctedRoot", "totalPaid",
            "totalRefunded", "budget", "offersRoot", "totalPayout")  # fmt: skip

#: Obligations the market contract itself settles (escrow -> payout, the penalty inside it).
_ONCHAIN_KINDS = ("flex_payout", "penalty")


@dataclass
class SessionExtras:
    """One session's tables; rows are plain values, rendered by report_sections."""

    times: list[tuple[str, int]] = field(default_factory=list)  # (what, unix s)
    offers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # event, block, tx, anchored
    stations: list[dict[str, Any]] = field(default_factory=list)  # station, import/export Wh
    off_chain: list[str] = field(default_factory=list)  # plain notes on money not on-chain


@dataclass
class ReportExtras:
    chain_id: int = 0
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (what, address)
    sessions: dict[str, SessionExtras] = field(default_factory=dict)  # by scenario session id
    audit: dict[str, Any] | None = None  # AuditReport.to_json(), or None when not run


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else str(value)


def _events(ctx: ReplayContext, run: SessionRun) -> list[dict[str, Any]]:
    ledger = ctx.chain.ledger
    found = [e for name in SESSION_EVENTS for e in ledger.session_events(name, run.session_id)]
    found.sort(key=lambda e: (e.block_number, e.log_index))
    return [
        {
            "event": e.name,
            "block": e.block_number,
            "tx_hash": e.tx_hash,
            "anchored": {k: _hex(e.args[k]) for k in _ANCHORS if k in e.args},
        }
        for e in found
    ]


def _offers(run: SessionRun, names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for o in sorted(run.offers, key=lambda o: (o.fsp, o.offer_id)):
        prices = [opt.price_per_mwh for opt in o.options]
        out.append(
            {
                "offer_id": o.offer_id,
                "fsp": names.get(o.fsp.lower(), o.fsp),
                "congestion_point": o.congestion_point,
                "direction": o.direction,
                "options": len(o.options),
                "min_price_per_mwh": min(prices),
                "max_price_per_mwh": max(prices),
                "max_power_w": max(abs(i.power_w) for opt in o.options for i in opt.isps),
            }
        )
    return out


def _orders(run: SessionRun, names: dict[str, str], isp_s: int) -> list[dict[str, Any]]:
    if run.result is None:
        return []
    return [
        {
            "order_id": o.order_id,
            "fsp": names.get(o.fsp.lower(), o.fsp),
            "congestion_point": o.congestion_point,
            "direction": o.direction,
            "price_per_mwh": o.price_per_mwh,
            "energy_wh": sum(abs(i.power_w) for i in o.isps) * isp_s // 3600,
            "payment_cap_units": o.payment_cap_units,
        }
        for o in run.result.orders
    ]


def _stations(ctx: ReplayContext, run: SessionRun) -> list[dict[str, Any]]:
    """Metered energy per station over the ordered ISPs, from the published delivery bundle."""
    try:
        bundle = json.loads(ctx.runtime.bundles.get(run.session_id, "delivery"))
    except Exception:  # no delivery bundle (the session did not reach verification)
        return []
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"import_wh": 0, "export_wh": 0})
    orders: dict[str, set[str]] = defaultdict(set)
    for order in bundle["report"]["orders"]:
        for meter in order["meters"]:
            totals[meter["station"]]["import_wh"] += int(meter["import_wh"])
            totals[meter["station"]]["export_wh"] += int(meter["export_wh"])
            orders[meter["station"]].add(order["order_id"])
    return [{"station": s, **totals[s], "orders": len(orders[s])} for s in sorted(totals)]


def _off_chain(run: SessionRun) -> list[str]:
    notes: list[str] = []
    if run.netting is not None and not run.netting.onchain:
        names = run.netting.names
        pairs = sorted(
            {(names.get(o.payer, o.payer), names.get(o.payee, o.payee))
             for o in run.netting.settlement.obligations
             if o.amount_units > 0 and o.kind not in _ONCHAIN_KINDS}
        )  # fmt: skip
        if not pairs:
            return notes
        notes.append(
            "Revenue sharing was computed by the clearing house for this report but NOT settled "
            "on-chain (netting off; `--netting` settles it): "
            + ", ".join(f"{a} → {b}" for a, b in pairs)
            + ". Only the DSO → FSP payouts and the refunds moved on-chain; the payments above "
            "between an FSP and its EV users, CPO and the platform are owed off-chain."
        )
    return notes


def collect_extras(ctx: ReplayContext, audit: dict[str, Any] | None) -> ReportExtras:
    """Everything report.html adds to report.json, read from the run and the chain."""
    sc = ctx.scenario
    chain = ctx.chain
    names = {a.lower(): pid for pid, a in chain.addresses.items()}
    extras = ReportExtras(chain_id=chain.ledger.chain_id, audit=audit)
    extras.addresses = [
        ("market", chain.contracts.market.address),
        ("settlement token", chain.contracts.token.address),
        *((pid, chain.addresses[pid]) for pid in sorted(chain.addresses)),
    ]
    for run in ctx.runs:
        extras.sessions[run.spec.id] = SessionExtras(
            times=[
                ("gate closure", sc.at(run.spec.gate_closure)),
                ("delivery start", sc.at(run.spec.delivery_start)),
                ("delivery end", sc.at(run.spec.delivery_end)),
            ],
            offers=_offers(run, names),
            orders=_orders(run, names, sc.period.isp_s),
            events=_events(ctx, run),
            stations=_stations(ctx, run),
            off_chain=_off_chain(run),
        )
    return extras
