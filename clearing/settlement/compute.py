"""Delivery verification and payment: per order per ISP FlexSettlement fields, then the report.

For each order and ISP (UFTP FlexSettlement names): ``baseline_w``, ``ordered_w``,
``actual_w`` = (Δimport − Δexport) × 3600 / isp_s of the FSP's portfolio (so discharge counts),
``delivered_w`` in the order's direction (UP: baseline − actual, DOWN: actual − baseline) and
``deficiency_w``.  When several orders of one portfolio share an ISP, the portfolio's delivered
power is split pro rata to ordered power (floor, remainder one watt at a time by order id).

Payment (all integer, see :mod:`clearing.units` for rounding):

* ``tolerance_w = ordered_w × delivery_tolerance_ppm / 1e6``; delivered ≥ ordered − tolerance
  counts as full, so ``credited_w = ordered_w``; otherwise ``credited_w = max(delivered, 0)``;
  over-delivery is never credited beyond ``ordered_w``; an unverifiable ISP credits 0;
* ``deficiency_w = ordered_w − credited_w``; ``penalized_w = max(deficiency_w − tolerance_w, 0)``;
* ``paid_units = payment(Σ energy(credited_w), price)``,
  ``penalty_units = min(payment(Σ energy(penalized_w), price) × penalty_factor_ppm / 1e6,
  ordered_value_units)``, ``net_units = paid − penalty`` (may be negative);
* ``payout_units = clamp(net_units, 0, payment_cap_units)``; the part of a penalty that the
  payout cannot absorb is ``uncovered_penalty_units`` (an FSP→DSO obligation for netting);
* payout per (request, FSP) = min(Σ order payouts, reservation); refund = budget − payouts.

The report and its Merkle leaves are defined in :mod:`clearing.settlement.report`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from clearing.encoding import canonical_json, hex32, keccak256
from clearing.merkle import StandardMerkleTree
from clearing.messages import FlexOrder
from clearing.settlement.baselines import compute_baseline, gaming_findings, portfolio_power_w
from clearing.settlement.meter import Finding, MeterSeries
from clearing.settlement.meter import prepare_meter_data as _prepare_meter_data
from clearing.settlement.report import (
    LEAF_ENCODING,
    REPORT_VERSION,
    ZERO_ROOT,
    DeliveryInputs,
    DeliveryOutcome,
    DeliveryReport,
    IspSettlement,
    OrderSettlement,
    PayoutLine,
    Portfolio,
    RefundLine,
    order_leaf,
)
from clearing.settlement.rules import SettlementError, SettlementRules
from clearing.units import apply_ppm, energy_wh, payment_units

__all__ = ["METER_GAP", "compute_delivery", "required_reading_window"]

METER_GAP = "meter_gap"


def required_reading_window(
    rules: SettlementRules, delivery_start: int, delivery_end: int
) -> tuple[int, int]:
    """[from, to] of the meter readings a settlement needs under ``rules`` (baseline history
    included, one gap length of margin on each side), so callers load no more and no less."""
    lookback = 0
    if rules.baseline_method == "meter_before":
        lookback = rules.meter_before_window_s
    elif rules.baseline_method == "x_of_y":
        lookback = rules.x_of_y_y * rules.x_of_y_like_day_s + rules.x_of_y_adjust_window_s
    return (delivery_start - lookback - rules.max_gap_s, delivery_end + rules.max_gap_s)


def _split(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` (may be negative) pro rata to non-negative weights, exactly."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [0] * len(weights)
    shares = [total * w // weight_sum for w in weights]
    remainder = total - sum(shares)
    i = 0
    while remainder > 0:
        if weights[i % len(weights)] > 0:
            shares[i % len(weights)] += 1
            remainder -= 1
        i += 1
    return shares


def _check_inputs(inputs: DeliveryInputs, orders: Sequence[FlexOrder]) -> None:
    seen: set[str] = set()
    for order in orders:
        if order.session_id != inputs.session_id:
            raise SettlementError(
                f"orders[{order.order_id}].session_id: {order.session_id} is not "
                f"the settled session {inputs.session_id}"
            )
        if order.order_id in seen:
            raise SettlementError(f"orders: order_id {order.order_id} appears twice")
        seen.add(order.order_id)
    budgets: dict[str, int] = {}
    for budget in inputs.budgets:
        if budget.request_id in budgets:
            raise SettlementError(f"budgets: request {budget.request_id} appears twice")
        budgets[budget.request_id] = budget.budget_units
    pairs: set[tuple[str, str]] = set()
    reserved: dict[str, int] = defaultdict(int)
    for r in inputs.reservations:
        pair = (r.request_id, r.fsp.lower())
        if pair in pairs:
            raise SettlementError(f"reservations: ({r.request_id}, {r.fsp}) appears twice")
        pairs.add(pair)
        if r.request_id not in budgets:
            raise SettlementError(f"reservations: request {r.request_id} has no budget")
        reserved[r.request_id] += r.reserved_units
    for request_id, total in reserved.items():
        if total > budgets[request_id]:
            raise SettlementError(
                f"reservations: request {request_id} reserves {total} > budget "
                f"{budgets[request_id]}"
            )
    for order in orders:
        if (order.request_id, order.fsp) not in pairs:
            raise SettlementError(
                f"orders[{order.order_id}]: no reservation for ({order.request_id}, {order.fsp})"
            )


def _settle_group(
    *,
    fsp: str,
    congestion_point: str,
    group: list[FlexOrder],
    portfolio: list[MeterSeries],
    nominated_w: Mapping[int, int] | None,
    inputs: DeliveryInputs,
    rules: SettlementRules,
    findings: list[Finding],
) -> list[OrderSettlement]:
    isp_s = rules.isp_s
    subject = f"{fsp}@{congestion_point}"

    def ts_of(index: int) -> int:
        return inputs.session_start_ts + index * isp_s

    direction_at: dict[int, str] = {}
    for order in group:
        for isp in order.isps:
            other = direction_at.setdefault(isp.isp_index, order.direction)
            if other != order.direction:
                raise SettlementError(
                    f"orders[{order.order_id}].direction: portfolio {subject} has UP and DOWN "
                    f"orders in ISP {isp.isp_index}"
                )
    indices = sorted(direction_at)
    directions = set(direction_at.values())
    starts = [ts_of(i) for i in indices]
    activation = starts[0] if starts else inputs.session_start_ts
    baseline, baseline_findings = compute_baseline(
        isp_starts=starts,
        activation_ts=activation,
        portfolio=portfolio,
        nominated_w=nominated_w,
        rules=rules,
        subject=subject,
    )
    findings.extend(baseline_findings)
    if rules.baseline_method == "nominated" and nominated_w:
        findings.extend(
            gaming_findings(
                nominated_w=nominated_w,
                ordered_isps=starts,
                portfolio=portfolio,
                rules=rules,
                subject=subject,
                paying_direction=next(iter(directions)) if len(directions) == 1 else None,
            )
        )
    actual: dict[int, int | None] = {
        ts: portfolio_power_w(portfolio, ts, ts + isp_s, rules.max_gap_s) for ts in starts
    }
    for ts in starts:
        if actual[ts] is not None:
            continue
        for series in portfolio:
            if series.energy_wh(ts, ts + isp_s, rules.max_gap_s) is None:
                findings.append(
                    Finding(
                        code=METER_GAP,
                        subject=f"{series.key[0]}/{series.key[1]}",
                        timestamp=ts,
                        detail=(
                            f"no valid readings at most {rules.max_gap_s} s apart across "
                            f"[{ts}, {ts + isp_s}); ISP unverifiable for {subject}"
                        ),
                    )
                )
    # Portfolio delivered power per ISP, split across the orders active in it.
    share: dict[tuple[str, int], int] = {}
    for index, ts in zip(indices, starts, strict=True):
        b, a = baseline[ts], actual[ts]
        if b is None or a is None:
            continue
        delivered = b - a if direction_at[index] == "UP" else a - b
        active = [
            (order.order_id, isp.power_w)
            for order in group
            for isp in order.isps
            if isp.isp_index == index
        ]
        for (order_id, _), part in zip(
            active, _split(delivered, [w for _, w in active]), strict=True
        ):
            share[(order_id, index)] = part

    out: list[OrderSettlement] = []
    for order in group:
        rows: list[IspSettlement] = []
        ordered_wh = credited_wh = penalized_wh = 0
        verified_ts: list[int] = []
        for isp in sorted(order.isps, key=lambda i: i.isp_index):
            ts = ts_of(isp.isp_index)
            ordered = isp.power_w
            tolerance = apply_ppm(ordered, rules.delivery_tolerance_ppm)
            b, a = baseline[ts], actual[ts]
            if b is None or a is None:
                status: Literal["verified", "unverifiable"] = "unverifiable"
                delivered, credited, actual_w = 0, 0, 0
            else:
                status = "verified"
                verified_ts.append(ts)
                delivered, actual_w = share[(order.order_id, isp.isp_index)], a
                positive = max(delivered, 0)
                credited = ordered if positive >= ordered - tolerance else positive
            deficiency = ordered - credited
            penalized = max(deficiency - tolerance, 0)
            rows.append(
                IspSettlement(
                    isp_index=isp.isp_index,
                    start_ts=ts,
                    status=status,
                    baseline_w=b if b is not None else 0,
                    ordered_w=ordered,
                    actual_w=actual_w,
                    delivered_w=delivered,
                    credited_w=credited,
                    deficiency_w=deficiency,
                    penalized_w=penalized,
                )
            )
            ordered_wh += energy_wh(ordered, isp_s)
            credited_wh += energy_wh(credited, isp_s)
            penalized_wh += energy_wh(penalized, isp_s)
        value = payment_units(ordered_wh, order.price_per_mwh)
        paid = payment_units(credited_wh, order.price_per_mwh)
        penalty = min(
            apply_ppm(payment_units(penalized_wh, order.price_per_mwh), rules.penalty_factor_ppm),
            value,
        )
        net = paid - penalty
        meters: list[dict[str, Any]] = []
        for series in portfolio:
            imp = exp = 0
            for ts in verified_ts:
                energy = series.energy_wh(ts, ts + isp_s, rules.max_gap_s)
                if energy is not None:
                    imp += energy[0]
                    exp += energy[1]
            meters.append(
                {
                    "station": series.key[0],
                    "evse": series.key[1],
                    "import_wh": imp,
                    "export_wh": exp,
                }
            )
        out.append(
            OrderSettlement(
                order_id=order.order_id,
                request_id=order.request_id,
                fsp=order.fsp,
                congestion_point=order.congestion_point,
                direction=order.direction,
                baseline_method=rules.baseline_method,
                price_per_mwh=order.price_per_mwh,
                payment_cap_units=order.payment_cap_units,
                isps=tuple(rows),
                ordered_value_units=value,
                paid_units=paid,
                penalty_units=penalty,
                net_units=net,
                payout_units=min(max(net, 0), order.payment_cap_units),
                uncovered_penalty_units=max(penalty - paid, 0),
                meters=tuple(meters),
            )
        )
    return out


def compute_delivery(
    inputs: DeliveryInputs,
    orders: Sequence[FlexOrder],
    rules: SettlementRules,
    station_keys: Mapping[str, str],
) -> DeliveryOutcome:
    """Verify metered delivery of every order and build the report and delivery bundle."""
    _check_inputs(inputs, orders)
    series, findings = _prepare_meter_data(inputs.readings, station_keys, rules)
    portfolios: dict[tuple[str, str], Portfolio] = {}
    for p in inputs.portfolios:
        key = (p.fsp.lower(), p.congestion_point)
        if key in portfolios:
            raise SettlementError(f"portfolios: ({p.fsp}, {p.congestion_point}) appears twice")
        portfolios[key] = p
    nominations: dict[tuple[str, str], dict[int, int]] = {}
    for prognosis in inputs.prognoses:
        key = (prognosis.fsp, prognosis.congestion_point)
        if key in nominations:
            raise SettlementError(
                f"prognoses: two DPrognosis for {prognosis.fsp} at {prognosis.congestion_point}"
            )
        nominations[key] = {
            inputs.session_start_ts + isp.isp_index * rules.isp_s: isp.power_w
            for isp in prognosis.isps
        }
    groups: dict[tuple[str, str], list[FlexOrder]] = defaultdict(list)
    for order in sorted(orders, key=lambda o: o.order_id):
        groups[(order.fsp, order.congestion_point)].append(order)

    settled: list[OrderSettlement] = []
    for key in sorted(groups):
        if key not in portfolios:
            raise SettlementError(f"portfolios: no meters for fsp {key[0]} at {key[1]}")
        meter_series = [series.get(m.key, MeterSeries(m.key, [])) for m in portfolios[key].meters]
        settled.extend(
            _settle_group(
                fsp=key[0],
                congestion_point=key[1],
                group=groups[key],
                portfolio=meter_series,
                nominated_w=nominations.get(key),
                inputs=inputs,
                rules=rules,
                findings=findings,
            )
        )
    settled.sort(key=lambda o: o.order_id)

    per_pair: dict[tuple[str, str], int] = defaultdict(int)
    for o in settled:
        per_pair[(o.request_id, o.fsp)] += o.payout_units
    payouts = tuple(
        PayoutLine(
            request_id=r.request_id,
            fsp=r.fsp.lower(),
            reserved_units=r.reserved_units,
            payout_units=min(per_pair.get((r.request_id, r.fsp.lower()), 0), r.reserved_units),
        )
        for r in inputs.reservations
    )
    paid_per_request: dict[str, int] = defaultdict(int)
    for line in payouts:
        paid_per_request[line.request_id] += line.payout_units
    refunds = tuple(
        RefundLine(
            request_id=b.request_id,
            budget_units=b.budget_units,
            payouts_units=paid_per_request.get(b.request_id, 0),
            refund_units=b.budget_units - paid_per_request.get(b.request_id, 0),
        )
        for b in inputs.budgets
    )

    inputs_obj = inputs.to_json_obj()
    evidence = keccak256(canonical_json(inputs_obj))
    tree: StandardMerkleTree | None = None
    root = ZERO_ROOT
    if settled:
        tree = StandardMerkleTree.of(
            [order_leaf(o, inputs.session_id, evidence) for o in settled], LEAF_ENCODING
        )
        root = hex32(tree.root)
    findings.sort(key=Finding.sort_key)
    report = DeliveryReport(
        version=REPORT_VERSION,
        session_id=inputs.session_id,
        rules=rules,
        leaf_encoding=LEAF_ENCODING,
        evidence_hash=hex32(evidence),
        orders=tuple(settled),
        payouts=payouts,
        refunds=refunds,
        findings=tuple(findings),
        root=root,
    )
    report_obj = report.to_json_obj()
    bundle_obj = {
        "version": REPORT_VERSION,
        "kind": "delivery_bundle",
        "inputs": inputs_obj,
        "findings": report_obj["findings"],
        "report": report_obj,
    }
    return DeliveryOutcome(
        report=report,
        report_bytes=canonical_json(report_obj),
        bundle_bytes=canonical_json(bundle_obj),
        tree=tree,
    )
