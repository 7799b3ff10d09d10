"""Per-EV-user revenue statements of one settled session: what each user earned and why.

Why a statement explains itself: an EV user should be able to check their share without
trusting the FSP's arithmetic, so each statement carries the orders at their EVSE's
congestion point, the per-ISP baseline / metered / delivered flexibility of their EVSE,
every EVSE's delivered flexibility (the denominator), the rule and the on-chain anchors
(delivery root, the FSP's withdrawal transaction). Building is pure; writing files is the
only I/O here (atomic: a temporary file renamed into place).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.ocpp.sink import MeterReading
from clearing.messages import FlexOrder
from clearing.settlement.meter import MeterSeries
from clearing.settlement.rules import SettlementRules
from market.fsp.checks import energy_wh
from market.fsp.config import FspGatewayConfig
from market.fsp.shares import RULE, IspFlex, evse_flexibility, ordered_at, split_payout


def meter_series(key: tuple[str, int], readings: Sequence[MeterReading]) -> MeterSeries:
    """An EVSE's readings as the settlement's meter series (one point per timestamp)."""
    points: dict[int, tuple[int, int, int]] = {}
    for r in readings:
        points.setdefault(r.timestamp, (r.timestamp, r.import_wh, r.export_wh))
    return MeterSeries(key, [points[t] for t in sorted(points)])


def build_statements(
    cfg: FspGatewayConfig,
    *,
    session: Mapping[str, Any],
    orders: Sequence[FlexOrder],
    rules: SettlementRules,
    readings: Mapping[tuple[str, int], Sequence[MeterReading]],
    nominations: Mapping[tuple[str, int], Sequence[int]],
    payout_units: int,
    anchors: Mapping[str, Any],
) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    """(share per EVSE ``station/evse``, statement per EV user) of one session.

    ``anchors``: ``delivery_root``, ``payout_tx``, ``withdrawn_units`` and ``order_payouts``
    (order id -> payout units in the delivery report), copied into every statement."""
    sid, start, end = (
        str(session["id"]),
        int(session["delivery_start"]),
        int(session["delivery_end"]),
    )
    flex: dict[tuple[str, int], list[IspFlex]] = {}
    for st, station in sorted(cfg.csms.stations.items()):
        for evse in station.evses:
            key = (st, evse.evse_id)
            nominated = nominations.get(key)
            flex[key] = evse_flexibility(
                meter_series(key, readings.get(key, ())),
                ordered_at(orders, evse.congestion_point),
                session_start=start,
                rules=rules,
                nominated_w=list(nominated) if nominated is not None else None,
            )
    weights = {f"{s}/{e}": sum(i.delivered_wh for i in isps) for (s, e), isps in flex.items()}
    shares = split_payout(payout_units, weights)
    cps = {
        (st, e.evse_id): e.congestion_point
        for st, station in cfg.csms.stations.items()
        for e in station.evses
    }
    order_payouts = dict(anchors.get("order_payouts") or {})
    out: dict[str, dict[str, Any]] = {}
    for uid, user in sorted(cfg.ev_users.items()):
        key = (user.station, user.evse_id)
        name = f"{user.station}/{user.evse_id}"
        cp = cps[key]
        out[uid] = {
            "session_id": sid,
            "user_id": uid,
            "station_id": user.station,
            "evse_id": user.evse_id,
            "congestion_point": cp,
            "delivery_start": start,
            "delivery_end": end,
            "isp_s": rules.isp_s,
            "baseline_method": rules.baseline_method,
            "energy_wh": energy_wh(list(readings.get(key, ())), start, end),
            "isps": [i.to_json() for i in flex[key]],
            "delivered_wh": weights[name],
            "fleet_delivered_wh": sum(weights.values()),
            "session_payout_units": payout_units,
            "share_units": shares[name],
            "rule": RULE,
            "orders": [
                {
                    "order_id": o.order_id,
                    "direction": o.direction,
                    "congestion_point": o.congestion_point,
                    "price_per_mwh": o.price_per_mwh,
                    "isps": [{"isp_index": i.isp_index, "power_w": i.power_w} for i in o.isps],
                    "payout_units": order_payouts.get(o.order_id),
                }
                for o in sorted(orders, key=lambda o: o.order_id)
                if o.congestion_point == cp
            ],
            "delivery_root": anchors.get("delivery_root"),
            "payout_tx": anchors.get("payout_tx"),
            "withdrawn_units": anchors.get("withdrawn_units"),
        }
    return shares, out


# what a statement keeps without consent to itemised statements: what the payment needs
TOTALS = (
    "session_id",
    "user_id",
    "delivery_start",
    "delivery_end",
    "delivered_wh",
    "fleet_delivered_wh",
    "session_payout_units",
    "share_units",
    "rule",
    "delivery_root",
    "payout_tx",
    "withdrawn_units",
)


def keep_itemised(
    statements: Mapping[str, Mapping[str, Any]], itemised: set[str]
) -> dict[str, dict[str, Any]]:
    """Each statement whole for a user in ``itemised`` (consent to ``revenue_statements``),
    else only its totals, marked ``"itemised": false``: the per-ISP readings of a user's
    EVSE are kept only with that consent."""
    return {
        uid: {**body, "itemised": True}
        if uid in itemised
        else {**{k: body[k] for k in TOTALS}, "itemised": False}
        for uid, body in statements.items()
    }


def write_statement_files(folder: Path, statements: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """``<folder>/<user>/<session>.json`` per statement, each written atomically."""
    written = []
    for uid, body in sorted(statements.items()):
        path = folder / uid / f"{body['session_id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        written.append(path)
    return written
