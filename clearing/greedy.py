"""Greedy baseline: cheapest effective bid first, whole blocks, skip what breaks a rule.

Used by the benchmark and the property tests as a floor the optimiser must beat; it obeys the
same rules (exclusive options, budgets, limits) and is scored by the same integer accounting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from clearing.evaluation import Evaluation, evaluate
from clearing.prepare import Prepared
from clearing.units import PPM

__all__ = ["GreedyRun", "greedy"]


@dataclass
class GreedyRun:
    evaluation: Evaluation
    activations: dict[int, int]
    seconds: float


def greedy(prep: Prepared) -> GreedyRun:
    """Accept options at full activation while each adds more value than it costs."""
    t0 = time.perf_counter()
    b = prep.bundle
    dur = b.isp_s
    pay_as_clear = b.rules.pricing_rule == "pay_as_clear"
    remaining = {
        (r.index, t): float(mx) for r in prep.requests for t, (_, mx) in r.requested.items()
    }
    budget_left = {r.index: r.budget_units * (1 - 4e-6) - 1 for r in prep.requests}
    net: dict[tuple[str, int], float] = {}
    taken_offers: set[int] = set()
    chosen: dict[int, int] = {}
    order = sorted(
        prep.options,
        key=lambda o: (o.price_per_mwh * PPM / o.fund_sensitivity_ppm, o.tie_rank),
    )
    for opt in order:
        if opt.offer_index in taken_offers:
            continue
        energy_mwh = opt.energy_wh_x3600 / 3600 / 1e6
        cost = opt.price_per_mwh * energy_mwh
        value = 0.0
        for ri, s in opt.covers:
            req = prep.requests[ri]
            v = req.max_price_per_mwh * dur / 3600 / 1e6
            for t, pw in opt.isps:
                if t in req.requested:
                    value += v * min(remaining[(ri, t)], pw * s / PPM)
        if value <= cost:
            continue
        fund = prep.requests[opt.fund]
        pay = (
            fund.max_price_per_mwh * opt.fund_sensitivity_ppm / PPM * energy_mwh
            if pay_as_clear
            else cost
        )
        if pay > budget_left[opt.fund]:
            continue
        sign = 1.0 if opt.direction == "DOWN" else -1.0
        delta: dict[tuple[str, int], float] = {}
        for code, s in opt.limits:
            for t, pw in opt.isps:
                delta[(code, t)] = delta.get((code, t), 0.0) + sign * pw * s / PPM
            for t, pw in opt.rebound:
                delta[(code, t)] = delta.get((code, t), 0.0) - sign * pw * s / PPM
        ok = True
        for (code, t), d in delta.items():
            new = net.get((code, t), 0.0) + d
            max_inc, max_dec = prep.limits[code]
            if (max_inc is not None and new > max_inc) or (max_dec is not None and -new > max_dec):
                ok = False
                break
        if not ok:
            continue
        for key, d in delta.items():
            net[key] = net.get(key, 0.0) + d
        budget_left[opt.fund] -= pay
        for ri, s in opt.covers:
            req = prep.requests[ri]
            for t, pw in opt.isps:
                if t in req.requested:
                    remaining[(ri, t)] = max(0.0, remaining[(ri, t)] - pw * s / PPM)
        taken_offers.add(opt.offer_index)
        chosen[opt.index] = PPM
    ev = evaluate(prep, chosen)
    return GreedyRun(ev, chosen, time.perf_counter() - t0)
