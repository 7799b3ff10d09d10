"""Build ``report.json`` and the plot data from a finished replay.

Everything here is integers and sorted, so the same run gives the same bytes: loading is in
per-mille of the element rating, energy in Wh, money in token minor units. Wall-clock numbers
go under ``timing`` only (``report.py`` splits that key off into ``timing.json``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from adapters.grid.forecast import ReportRow
from market.replay.clearing_house import clearing_house_section
from market.replay.context import ReplayContext, SessionRun
from market.replay.derive import pseudonym, salted_commitment
from market.replay.report import (
    LoadingSeries,
    PowerSeries,
    ReplayPlots,
    SocSeries,
    write_report_html,
    write_report_json,
)
from market.replay.report_evidence import ReportExtras
from market.replay.world import Stay, fault_stations, min_departure_pct
from market.store import models as m

DIRECTIONS = ("DOWN", "UP")
_SIGN = {"UP": 1, "DOWN": -1}
SOC_SAMPLE = 8


def _wh(power_w: int, isp_s: int) -> int:
    return power_w * isp_s // 3600


def _per_isp(n: int) -> dict[str, list[int]]:
    return {d: [0] * n for d in DIRECTIONS}


def _energy(ctx: ReplayContext, run: SessionRun) -> tuple[dict[str, Any], list[PowerSeries]]:
    n, isp_s = run.agent_session.n_isps, run.agent_session.isp_s
    requested, requested_max, awarded, delivered = (
        _per_isp(n),
        _per_isp(n),
        _per_isp(n),
        _per_isp(n),
    )
    for req in run.requests:
        for item in req.isps:
            if item.disposition == "Requested":
                requested[req.direction][item.isp_index] += item.min_power_w
                requested_max[req.direction][item.isp_index] += item.max_power_w
    for order in run.result.orders if run.result else ():
        for awarded_isp in order.isps:
            awarded[order.direction][awarded_isp.isp_index] += awarded_isp.power_w
    if run.delivery is not None:
        for o in run.delivery.orders:
            for delivered_isp in o.isps:
                delivered[o.direction][delivered_isp.isp_index] += delivered_isp.delivered_w
    out = {
        "requested_wh": {d: sum(_wh(w, isp_s) for w in requested[d]) for d in DIRECTIONS},
        "requested_max_wh": {d: sum(_wh(w, isp_s) for w in requested_max[d]) for d in DIRECTIONS},
        "awarded_wh": {d: sum(_wh(w, isp_s) for w in awarded[d]) for d in DIRECTIONS},
        "delivered_wh": {d: sum(_wh(w, isp_s) for w in delivered[d]) for d in DIRECTIONS},
    }
    series = [
        PowerSeries(run.spec.id, d, requested[d], awarded[d], delivered[d])
        for d in DIRECTIONS
        if any(requested[d]) or any(awarded[d])
    ]
    return out, series


def _congestion(ctx: ReplayContext, run: SessionRun) -> tuple[dict[str, Any], list[LoadingSeries]]:
    """Power flow of every ISP of the session before and after the flexibility verified as
    delivered (baseline-measured, as settled: :data:`market.replay.report.AFTER_MEANS`)."""
    if not run.dso:
        return {}, []
    dso = run.dso[sorted(run.dso)[0]]
    delivered: dict[str, dict[int, int]] = defaultdict(dict)
    if run.delivery is not None:
        for o in run.delivery.orders:
            per = delivered[o.congestion_point]
            for item in o.isps:
                day = dso.day_isp(item.isp_index)
                per[day] = per.get(day, 0) + _SIGN[o.direction] * item.delivered_w
    isps = [dso.day_isp(k) for k in range(run.agent_session.n_isps)]
    rows = dso.forecaster.before_after(isps, dso.forecaster.spread(delivered), run.ev_load)
    by_cp: dict[str, dict[int, ReportRow]] = defaultdict(dict)
    for row in rows:
        by_cp[row.cp_id][row.isp] = row
    out: dict[str, Any] = {}
    series: list[LoadingSeries] = []
    for cp_id in sorted(by_cp):
        point = ctx.grid.point(cp_id)
        row_of = by_cp[cp_id]
        before = [round(row_of[i].max_loading_pct_before * 10) for i in isps]
        after = [round(row_of[i].max_loading_pct_after * 10) for i in isps]
        v_before = [i for i in isps if row_of[i].violations_before != 0]
        v_after = [i for i in isps if row_of[i].violations_after != 0]
        out[cp_id] = {
            "name": point.name,
            "kind": point.kind,
            "limit_permille": round(point.max_loading_pct * 10),
            "max_loading_permille_before": max(before, default=0),
            "max_loading_permille_after": max(after, default=0),
            "violation_isps_before": v_before,
            "violation_isps_after": v_after,
        }
        if v_before or v_after or cp_id in delivered:
            series.append(LoadingSeries(f"{point.name} ({cp_id})", out[cp_id]["limit_permille"],
                                        before, after))  # fmt: skip
    return out, series


def _netted_payments(run: SessionRun) -> tuple[dict[str, Any], list[tuple[str, str, int]]]:
    """Payments and flows from the clearing house's obligations (its period for the session:
    netted on-chain with ``--netting``, else computed for the report only)."""
    assert run.netting is not None
    names = run.netting.names
    settlement = run.netting.settlement
    paid: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    flows: dict[tuple[str, str], int] = defaultdict(int)
    for ob in settlement.obligations:
        payer, payee = names.get(ob.payer, ob.payer), names.get(ob.payee, ob.payee)
        paid[payer] += ob.amount_units
        received[payee] += ob.amount_units
        flows[(payer, payee)] += ob.amount_units
    netting = {
        "period_id": settlement.onchain.period_id,
        "fee_units": settlement.onchain.fee_units,
        "onchain_net_units": {
            names.get(m, m): a
            for m, a in zip(settlement.onchain.members, settlement.onchain.net_amounts, strict=True)
        },
        "obligations": len(settlement.obligations),
    }
    payments = {
        p: {"paid_units": paid[p], "received_units": received[p],
            "net_units": received[p] - paid[p]}
        for p in sorted(set(paid) | set(received))
    }  # fmt: skip
    return {"payments": payments, "netting": netting}, sorted(
        (s, d, a) for (s, d), a in flows.items() if a > 0
    )


def _payments(
    ctx: ReplayContext, run: SessionRun
) -> tuple[dict[str, Any], list[tuple[str, str, int]]]:
    """On-chain money: DSO escrow -> FSP payouts, and refunds (revenue sharing comes from the
    clearing house's period, see ``_netted_payments``)."""
    addr_to_id = {a.lower(): pid for pid, a in ctx.chain.addresses.items()}
    request_dso = {r.request_id: dso for dso in run.dso for r in run.requests}
    money, flows = payments_of(run.delivery, addr_to_id, request_dso)
    money["withdrawn_units"] = dict(sorted(run.withdrawn.items()))
    return money, flows


def payments_of(
    report: Any, addr_to_id: dict[str, str], request_dso: dict[str, str]
) -> tuple[dict[str, Any], list[tuple[str, str, int]]]:
    """Payouts, refunds and per-party money of one verified session's delivery report
    (``flexmarket live`` builds its report.json with this too, so the two compare)."""
    paid: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    flows: dict[tuple[str, str], int] = defaultdict(int)
    payout_lines = []
    refund_lines = []
    if report is not None:
        for line in report.payouts:
            fsp = addr_to_id.get(line.fsp.lower(), line.fsp.lower())
            dso = request_dso.get(line.request_id, "dso")
            paid[dso] += line.payout_units
            received[fsp] += line.payout_units
            flows[(dso, fsp)] += line.payout_units
            payout_lines.append(
                {
                    "request_id": line.request_id,
                    "fsp": fsp,
                    "reserved_units": line.reserved_units,
                    "payout_units": line.payout_units,
                }
            )
        refund_lines = [
            {
                "request_id": r.request_id,
                "budget_units": r.budget_units,
                "payouts_units": r.payouts_units,
                "refund_units": r.refund_units,
            }
            for r in report.refunds
        ]
    participants = sorted(set(paid) | set(received))
    payments = {
        p: {
            "paid_units": paid.get(p, 0),
            "received_units": received.get(p, 0),
            "net_units": received.get(p, 0) - paid.get(p, 0),
        }
        for p in participants
    }
    return (
        {
            "payouts": sorted(payout_lines, key=lambda x: (x["request_id"], x["fsp"])),
            "refunds": sorted(refund_lines, key=lambda x: x["request_id"]),
            "payments": payments,
        },
        sorted((s, d, a) for (s, d), a in flows.items() if a > 0),
    )


def _soc(ctx: ReplayContext, run: SessionRun, faults: dict[str, list[str]]) -> list[dict[str, Any]]:
    """EVs that left below their minimum departure SoC, each with its cause."""
    if ctx.fleet is None:
        return []
    start, end = run.agent_session.start_unix, run.agent_session.horizon.end_unix
    misses = {
        (mm.ev_id if hasattr(mm, "ev_id") else str(mm)): str(mm)
        for plan in run.plans.values()
        for mm in plan.misses
    }
    issues = run.issues
    out = []
    for stay in ctx.stays:
        if not start < stay.departure <= end:
            continue
        evse = ctx.fleet[stay.station].evses[stay.evse]
        ev = evse.spec.ev
        assert ev is not None
        need_pct = min_departure_pct(ctx.scenario, stay)
        need_wh = ev.battery_wh * need_pct / 100
        if round(100 * ev.stored_wh / ev.battery_wh) >= need_pct:
            continue  # SoC is reported in whole percent (OCPP); below that is rounding
        if stay.station in faults:
            cause = "fault at station: " + ", ".join(faults[stay.station])
        elif stay.ev.id in misses:
            cause = f"dispatch could not meet it: {misses[stay.ev.id]}"
        elif stay.ev.id in issues:
            cause = f"preferences cannot be met: {issues[stay.ev.id]}"
        else:
            cause = "unexplained"
        seed, isp_s = ctx.scenario.seed, ctx.scenario.period.isp_s
        out.append(
            {
                "ev": pseudonym(seed, "ev", stay.ev.id),
                "station": stay.station,
                # the ISP it fell in; the exact time only as a salted commitment
                "departure_isp_start": stay.departure // isp_s * isp_s,
                "departure_commitment": salted_commitment(
                    seed, "departure", stay.ev.id, stay.departure
                ),
                "min_departure_soc_pct": need_pct,
                "soc_wh_at_departure": int(ev.stored_wh),
                "shortfall_wh": round(need_wh - ev.stored_wh),
                "cause": cause,
            }
        )
    return sorted(out, key=lambda x: (x["departure_isp_start"], x["ev"]))


def _soc_series(ctx: ReplayContext) -> list[SocSeries]:
    sc = ctx.scenario
    midnight = int(dt.datetime.combine(sc.period.day, dt.time(0), tzinfo=dt.UTC).timestamp())
    sample: list[Stay] = sorted(ctx.stays, key=lambda s: (s.arrival, s.ev.id))[:SOC_SAMPLE]
    out = []
    with Session(ctx.runtime.engine) as db:
        for stay in sample:
            rows = db.exec(
                select(m.MeterReading)
                .where(
                    m.MeterReading.station_id == stay.station,
                    m.MeterReading.evse_id == stay.evse,
                )
                .order_by(m.MeterReading.timestamp)
            )
            points = [(r.timestamp, r.soc_pct) for r in rows if r.soc_pct is not None]
            if not points:
                continue
            out.append(
                SocSeries(
                    ev=pseudonym(sc.seed, "ev", stay.ev.id),
                    times_s=[t - midnight for t, _ in points],
                    soc_pct=[int(s) for _, s in points],
                    departure_s=stay.departure - midnight,
                    target_pct=min_departure_pct(sc, stay),
                )
            )
    return out


def _findings(run: SessionRun, seed: int) -> list[str]:
    out: list[str] = []
    if run.delivery is not None:
        out += [f"delivery {f.code} {f.subject}: {f.detail}" for f in run.delivery.findings]
    for fsp, plan in run.plans.items():
        for cp, shortfalls in plan.shortfalls.items():
            out += [f"dispatch shortfall {fsp} at {cp}: {s}" for s in shortfalls]
    for dso_id, agent in run.dso.items():
        out += [
            f"unresolved congestion {dso_id} {n.cp_id} ISP {n.isp}: {n.reason}"
            for n in agent.unresolved
        ]
    out += [f"forged reading {f}" for f in run.forged]
    out += [
        f"EV {pseudonym(seed, 'ev', ev)} left out of offers: {why}"
        for ev, why in sorted(run.issues.items())
    ]
    return sorted(out)


def build_report(ctx: ReplayContext) -> tuple[dict[str, Any], ReplayPlots]:
    sc = ctx.scenario
    faults = fault_stations(sc)
    plots = ReplayPlots(isp_s=sc.period.isp_s)
    sessions: dict[str, Any] = {}
    all_findings: list[str] = []
    total: dict[str, Any] = defaultdict(int)
    for run in ctx.runs:
        energy, power = _energy(ctx, run)
        congestion, loading = _congestion(ctx, run)
        money, flows = _payments(ctx, run)
        if run.netting is not None:
            netted, flows = _netted_payments(run)
            if not run.netting.onchain:  # computed for the report, nothing netted on-chain
                netted.pop("netting")
            money.update(netted)
        soc = _soc(ctx, run, faults)
        findings = _findings(run, ctx.scenario.seed)
        plots.power += power
        plots.loading += loading
        plots.money_flows += flows
        result = run.result
        sessions[run.spec.id] = {
            "session_id": run.session_id,
            "kind": run.spec.kind,
            "gate_closure": sc.at(run.spec.gate_closure),
            "delivery_start": run.agent_session.start_unix,
            "isps": run.agent_session.n_isps,
            "requests": len(run.requests),
            "offers": len(run.offers),
            "orders": len(result.orders) if result else 0,
            "clearing_status": result.status if result else "none",
            "welfare_units": result.welfare_units if result else 0,
            "value_units": result.value_units if result else 0,
            "cost_units": result.cost_units if result else 0,
            **energy,
            **money,
            "dispatch": run.dispatch_status,
            "congestion": congestion,
            "soc_violations": soc,
            "findings": findings,
            "roots": run.roots,
        }
        all_findings += [f"{run.spec.id}: {f}" for f in findings]
        for key in ("requested_wh", "awarded_wh", "delivered_wh"):
            for d in DIRECTIONS:
                total[f"{key.removesuffix('_wh')}_{d.lower()}_wh"] += energy[key][d]
        total["welfare_units"] += sessions[run.spec.id]["welfare_units"]
        total["payouts_units"] += sum(p["payout_units"] for p in money["payouts"])
        total["orders"] += sessions[run.spec.id]["orders"]
        total["soc_violations"] += len(soc)
        total["soc_violations_unexplained"] += sum(1 for v in soc if v["cause"] == "unexplained")
        total["violation_isps_before"] += sum(
            len(c["violation_isps_before"]) for c in congestion.values()
        )
        total["violation_isps_after"] += sum(
            len(c["violation_isps_after"]) for c in congestion.values()
        )
    plots.soc = _soc_series(ctx)
    total["sessions"] = len(ctx.runs)
    total["evs"] = len(sc.evs)
    total["stations"] = len(sc.stations)
    total["fsps"] = sum(1 for p in sc.participants if p.role in ("EMSP", "FLEET_OPERATOR",
                                                                 "BUILDING_MANAGER"))  # fmt: skip
    report: dict[str, Any] = {
        "scenario": sc.name,
        "seed": sc.seed,
        "day": sc.period.day.isoformat(),
        "market_address": ctx.chain.contracts.market.address,
        "participants": {
            pid: ctx.chain.addresses[pid].lower() for pid in sorted(ctx.chain.addresses)
        },
        "sessions": sessions,
        "total": dict(sorted(total.items())),
        "findings": sorted(all_findings),
        "clearing_house": clearing_house_section(ctx),
        "bundles": "bundles/<session id>/{input,result,delivery}.json and bundles/stations.json",
    }
    return report, plots


def write_html(
    report_dir: Path,
    report: dict[str, Any],
    plots: ReplayPlots,
    extras: ReportExtras | None = None,
) -> None:
    write_report_html(report_dir, report, plots, extras)


def write_json(report_dir: Path, report: dict[str, Any]) -> None:
    write_report_json(report_dir, report)
