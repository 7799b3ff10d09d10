"""Integer accounting of a set of activated options (shared by the optimiser and greedy).

The rules are documented in :mod:`clearing.engine`'s docstring; this module only computes them,
so the greedy baseline and the engine score a solution identically without importing each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from clearing.messages import FlexOrder, IspPower
from clearing.model import SolveOutcome
from clearing.prepare import Prepared
from clearing.units import PPM

__all__ = ["Evaluation", "activations_from", "evaluate", "order_id_for"]

_ORDER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://flexmarket/order")


def order_id_for(session_id: str, offer_id: str, option_ref: str) -> str:
    """Deterministic order id (UUIDv5) so re-clearing gives the same ids."""
    return str(uuid.uuid5(_ORDER_NAMESPACE, f"{session_id}/{offer_id}/{option_ref}"))


@dataclass
class Evaluation:
    orders: list[FlexOrder]
    procured: dict[tuple[int, int], int]
    prices: dict[tuple[int, int], int]  # (request, isp) -> price per MWh
    value_units: int
    cost_units: int

    @property
    def welfare_units(self) -> int:
        return self.value_units - self.cost_units


def evaluate(prep: Prepared, activations: Mapping[int, int]) -> Evaluation:
    """Integer accounting of a set of activated options ``{option index: activation ppm}``."""
    b = prep.bundle
    dur = b.isp_s
    ordered: dict[int, list[tuple[int, int]]] = {}
    cov: dict[tuple[int, int], int] = {}
    for k in sorted(activations):
        act = activations[k]
        opt = prep.options[k]
        isps = [(t, pw * act // PPM) for t, pw in opt.isps]
        ordered[k] = isps
        for ri, s in opt.covers:
            wanted = prep.requests[ri].requested
            for t, w in isps:
                if t in wanted:
                    cov[(ri, t)] = cov.get((ri, t), 0) + s * w
    procured: dict[tuple[int, int], int] = {}
    value = 0
    for rq in prep.requests:
        for t, (mn, mx) in sorted(rq.requested.items()):
            p = min(mx, cov.get((rq.index, t), 0) // PPM)
            if rq.all_or_nothing and p < mn:
                p = 0
            procured[(rq.index, t)] = p
            value += (p * dur // 3600) * rq.max_price_per_mwh // PPM
    # marginal (highest effective) accepted bid per funding request and ISP
    prices: dict[tuple[int, int], int] = {}
    for k, isps in ordered.items():
        opt = prep.options[k]
        eff = -(-opt.price_per_mwh * PPM // opt.fund_sensitivity_ppm)
        eff = min(eff, prep.requests[opt.fund].max_price_per_mwh)
        for t, w in isps:
            if w > 0:
                key = (opt.fund, t)
                prices[key] = max(prices.get(key, 0), eff)
    pay_as_clear = b.rules.pricing_rule == "pay_as_clear"
    orders: list[FlexOrder] = []
    cost = 0
    for k, isps in ordered.items():
        opt = prep.options[k]
        req = prep.requests[opt.fund]
        energies = [(t, w * dur // 3600) for t, w in isps]
        energy = sum(e for _, e in energies)
        bid_cost = energy * opt.price_per_mwh // PPM
        cost += bid_cost
        if pay_as_clear:
            s = opt.fund_sensitivity_ppm
            clear_cap = sum(e * s * prices.get((opt.fund, t), 0) for t, e in energies) // PPM**2
            cap = max(bid_cost, clear_cap)
            price = max(opt.price_per_mwh, cap * PPM // energy) if energy else opt.price_per_mwh
        else:
            cap, price = bid_cost, opt.price_per_mwh
        orders.append(
            FlexOrder(
                order_id=order_id_for(b.session_id, opt.offer_id, opt.option_ref),
                session_id=b.session_id,
                offer_id=opt.offer_id,
                option_ref=opt.option_ref,
                fsp=opt.fsp,
                request_id=req.request_id,
                congestion_point=opt.congestion_point,
                direction=opt.direction,  # type: ignore[arg-type]
                activation_ppm=activations[k],
                isps=tuple(IspPower(isp_index=t, power_w=w) for t, w in isps),
                price_per_mwh=price,
                payment_cap_units=cap,
            )
        )
    orders.sort(key=lambda o: o.order_id)
    return Evaluation(orders, procured, prices, value, cost)


def activations_from(prep: Prepared, sol: SolveOutcome) -> dict[int, int]:
    """Round a solver solution to integer ppm activations (documented in the module)."""
    out: dict[int, int] = {}
    for k, opt in enumerate(prep.options):
        if not sol.on[k]:
            continue
        a = sol.activation[k]
        if a * PPM < opt.min_activation_ppm - 2:  # "on" but not really activated
            continue
        out[k] = min(PPM, max(opt.min_activation_ppm, round(a * PPM)))
    return out
