"""Turn a validated bundle into flat, index-based data the model, the greedy and pricing share.

Hierarchy rule: a flow at point ``c`` affects every ancestor ``a`` with the product of the
sensitivities on the path, computed in integer ppm and floored at each step
(``s = s * sensitivity_ppm // 1e6``).  Each option counts towards every request of its direction
at its own point or above (a unit of flexibility relieves every point above it), but is paid by
exactly one **funding request**: the offer's ``request_id`` when given, else the nearest request
at or above its point whose Requested ISPs overlap the option.  An option is eligible only when
its effective price at the funding point does not exceed that request's max price:
``price_per_mwh * 1e6 <= max_price_per_mwh * s_ppm``.

Only ``Requested`` ISPs (with max_power_w > 0) carry value; ``Available`` ISPs are informational.
Because each unit relieves every point above it, a request's procured power may count an option
that another (deeper) request pays for; welfare counts that value at each point it relieves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clearing.bundle import InputBundle
from clearing.encoding import keccak256
from clearing.units import PPM

__all__ = ["OptionData", "Prepared", "RequestData", "ancestors", "prepare"]


@dataclass
class RequestData:
    index: int
    request_id: str
    congestion_point: str
    direction: str
    max_price_per_mwh: int
    budget_units: int
    all_or_nothing: bool
    # isp_index -> (min_power_w, max_power_w) for Requested ISPs only
    requested: dict[int, tuple[int, int]]


@dataclass
class OptionData:
    index: int
    offer_index: int
    offer_id: str
    option_ref: str
    fsp: str
    direction: str
    congestion_point: str
    price_per_mwh: int
    min_activation_ppm: int
    isps: list[tuple[int, int]]  # (isp_index, power_w), power_w > 0 only
    rebound: list[tuple[int, int]]
    energy_wh_x3600: int  # sum(power_w * isp_s): exact energy times 3600
    fund: int  # index of the funding request
    fund_sensitivity_ppm: int
    covers: list[tuple[int, int]]  # (request index, sensitivity ppm)
    limits: list[tuple[str, int]]  # (limited point code, sensitivity ppm)
    tie_rank: int = 0


@dataclass
class Prepared:
    bundle: InputBundle
    requests: list[RequestData]
    options: list[OptionData]
    offer_options: dict[int, list[int]] = field(default_factory=dict)
    limits: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)


def ancestors(bundle: InputBundle) -> dict[str, list[tuple[str, int]]]:
    """For each point: [(itself, 1e6), (parent, s1), (grandparent, s2), ...]."""
    by_code = {c.code: c for c in bundle.congestion_points}
    out: dict[str, list[tuple[str, int]]] = {}
    for code in by_code:
        chain = [(code, PPM)]
        node = by_code[code]
        s = PPM
        for _ in range(len(by_code)):
            if node.parent is None:
                break
            s = s * node.sensitivity_ppm // PPM
            node = by_code[node.parent]
            chain.append((node.code, s))
        out[code] = chain
    return out


def prepare(bundle: InputBundle) -> Prepared:
    """Index requests and eligible options (ineligible options are simply never awarded)."""
    chains = ancestors(bundle)
    requests: list[RequestData] = []
    req_at: dict[tuple[str, str], int] = {}
    req_by_id: dict[str, int] = {}
    for r in bundle.requests:
        rd = RequestData(
            index=len(requests),
            request_id=r.request_id,
            congestion_point=r.congestion_point,
            direction=r.direction,
            max_price_per_mwh=r.max_price_per_mwh,
            budget_units=r.budget_units,
            all_or_nothing=r.all_or_nothing,
            requested={
                i.isp_index: (i.min_power_w, i.max_power_w)
                for i in r.isps
                if i.disposition == "Requested" and i.max_power_w > 0
            },
        )
        requests.append(rd)
        req_at[(r.congestion_point, r.direction)] = rd.index
        req_by_id[r.request_id] = rd.index
    limits = {
        c.code: (c.max_increase_w, c.max_decrease_w)
        for c in bundle.congestion_points
        if c.max_increase_w is not None or c.max_decrease_w is not None
    }
    options: list[OptionData] = []
    offer_options: dict[int, list[int]] = {}
    dur = bundle.isp_s
    for oi, offer in enumerate(bundle.offers):
        chain = chains[offer.congestion_point]
        for opt in offer.options:
            isps = sorted((i.isp_index, i.power_w) for i in opt.isps if i.power_w > 0)
            isp_set = {t for t, _ in isps}
            covers: list[tuple[int, int]] = []
            for code, s in chain:
                ri = req_at.get((code, offer.direction))
                if ri is not None and isp_set & requests[ri].requested.keys():
                    covers.append((ri, s))
            if not covers:
                continue
            if offer.request_id is not None:
                fund_ri = req_by_id[offer.request_id]
                match = [c for c in covers if c[0] == fund_ri]
                if not match:
                    continue  # its request is not above it, or does not overlap: cannot be paid
                fund, fund_s = match[0]
            else:
                fund, fund_s = covers[0]
            if opt.price_per_mwh * PPM > requests[fund].max_price_per_mwh * fund_s:
                continue
            od = OptionData(
                index=len(options),
                offer_index=oi,
                offer_id=offer.offer_id,
                option_ref=opt.option_ref,
                fsp=offer.fsp,
                direction=offer.direction,
                congestion_point=offer.congestion_point,
                price_per_mwh=opt.price_per_mwh,
                min_activation_ppm=opt.min_activation_ppm,
                isps=isps,
                rebound=sorted((i.isp_index, i.power_w) for i in opt.rebound if i.power_w > 0),
                energy_wh_x3600=sum(p for _, p in isps) * dur,
                fund=fund,
                fund_sensitivity_ppm=fund_s,
                covers=covers,
                limits=[(code, s) for code, s in chain if code in limits],
            )
            options.append(od)
            offer_options.setdefault(oi, []).append(od.index)
    # deterministic tie-break rank by keccak(offer_id | option_ref)
    keys = sorted(
        range(len(options)),
        key=lambda k: keccak256(f"{options[k].offer_id}|{options[k].option_ref}".encode()),
    )
    for rank, k in enumerate(keys):
        options[k].tie_rank = rank
    return Prepared(bundle, requests, options, offer_options, limits)
