"""Seeded synthetic sessions for the benchmark and tests (pure: same seed, same bundle).

Shape (issue 3): 50 congestion points in 3 levels (2 substations > 8 transformers > 40 feeders),
96 ISPs of 15 min, UP requests in an evening window and DOWN requests in a midday window at every
point (~30 % of point-ISPs), offers of 1-8 ISP blocks, 30 % with min activation 1.0, 20 % with
2-3 exclusive options, 30 % with rebound, some solicited (request_id set).  Transformers carry
limits so rebound can bind.
"""

from __future__ import annotations

import random
import uuid

from clearing.bundle import CongestionPoint, InputBundle, MarketRules, SolverSpec
from clearing.messages import (
    BaselineIsp,
    DPrognosis,
    FlexOffer,
    FlexOfferOption,
    FlexRequest,
    IspPower,
    RequestIsp,
)
from clearing.units import PPM

__all__ = ["generate_session"]

EUR = 1_000_000
START = 1_767_225_600  # 2026-01-01T00:00:00Z


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_session(
    n_offers: int,
    seed: int = 0,
    *,
    pricing_rule: str = "pay_as_bid",
    time_limit_s: int | None = None,
    solver: str = "highs",
    solver_version: str = "",
    mip_gap_ppm: int = 1_000,
    demand_scale_ppm: int = 1_000_000,
) -> InputBundle:
    rng = random.Random(seed)
    session = _uuid(rng)
    n_isp = 96
    cps: list[CongestionPoint] = []
    level: dict[str, int] = {}
    parent: dict[str, str | None] = {}
    for s in range(2):
        code = f"SUB-{s:02d}"
        cps.append(CongestionPoint(code=code))
        level[code], parent[code] = 0, None
        for t in range(4):
            tcode = f"TR-{s:02d}-{t:02d}"
            cps.append(
                CongestionPoint(
                    code=tcode,
                    parent=code,
                    sensitivity_ppm=rng.randint(980_000, PPM),
                    max_increase_w=rng.randint(400, 900) * 1000,
                    max_decrease_w=rng.randint(400, 900) * 1000,
                )
            )
            level[tcode], parent[tcode] = 1, code
            for f in range(5):
                fcode = f"FD-{s:02d}-{t:02d}-{f:02d}"
                cps.append(
                    CongestionPoint(
                        code=fcode, parent=tcode, sensitivity_ppm=rng.randint(950_000, PPM)
                    )
                )
                level[fcode], parent[fcode] = 2, tcode
    scale = {0: 2_000_000, 1: 600_000, 2: 120_000}
    requests: list[FlexRequest] = []
    windows: dict[tuple[str, str], tuple[int, int, str]] = {}
    for cp in cps:
        for direction, (lo, hi) in (("UP", (64, 76)), ("DOWN", (40, 52))):
            start = rng.randint(lo, hi)
            length = rng.randint(10, 18)
            end = min(n_isp, start + length)
            base = scale[level[cp.code]]
            aon = rng.random() < 0.2
            rows: list[RequestIsp] = []
            for t in range(start, end):
                mx = int(base * rng.uniform(0.6, 1.0)) * demand_scale_ppm // PPM // 1000 * 1000
                rows.append(
                    RequestIsp(
                        isp_index=t,
                        disposition="Requested",
                        min_power_w=mx * 3 // 10 if aon else 0,
                        max_power_w=mx,
                    )
                )
            price = rng.randint(150, 400) * EUR
            energy_mwh = sum(i.max_power_w for i in rows) * 900 / 3600 / 1e6
            rid = _uuid(rng)
            requests.append(
                FlexRequest(
                    request_id=rid,
                    session_id=session,
                    congestion_point=cp.code,
                    direction=direction,  # type: ignore[arg-type]
                    revision=0,
                    expires_at=START,
                    max_price_per_mwh=price,
                    budget_units=int(price * energy_mwh * rng.uniform(0.5, 1.0)),
                    all_or_nothing=aon,
                    isps=tuple(rows),
                )
            )
            windows[(cp.code, direction)] = (start, end, rid)
    fsps = ["0x" + format(rng.getrandbits(160), "040x") for _ in range(200)]
    leaves = [c.code for c in cps if level[c.code] == 2]
    mids = [c.code for c in cps if level[c.code] == 1]
    tops = [c.code for c in cps if level[c.code] == 0]
    prognoses: list[DPrognosis] = []
    for i in range(20):
        prognoses.append(
            DPrognosis(
                prognosis_id=_uuid(rng),
                session_id=session,
                fsp=fsps[i],
                congestion_point=leaves[i],
                isps=tuple(
                    BaselineIsp(isp_index=t, power_w=rng.randint(-50_000, 200_000))
                    for t in range(n_isp)
                ),
            )
        )
    offers: list[FlexOffer] = []
    for _ in range(n_offers):
        u = rng.random()
        cp_code = rng.choice(leaves if u < 0.8 else mids if u < 0.95 else tops)
        direction = "UP" if rng.random() < 0.5 else "DOWN"
        chain = [cp_code]
        while parent[chain[-1]] is not None:
            chain.append(parent[chain[-1]])  # type: ignore[arg-type]
        target = rng.choice(chain)
        w_start, w_end, rid = windows[(target, direction)]
        n_opts = 1 if rng.random() >= 0.2 else rng.randint(2, 3)
        min_ppm = PPM if rng.random() < 0.3 else rng.randint(100, 500) * 1000
        has_rebound = rng.random() < 0.3
        base_price = rng.randint(30, 300) * EUR
        base_power = rng.randint(3, 50) * 1000
        options = []
        for j in range(n_opts):
            length = rng.randint(1, 8)
            start = rng.randint(max(0, w_start - 2), max(0, min(n_isp - length, w_end - 1)))
            isps = tuple(
                IspPower(isp_index=t, power_w=int(base_power * rng.uniform(0.8, 1.0)))
                for t in range(start, start + length)
            )
            rebound: tuple[IspPower, ...] = ()
            if has_rebound:
                r_len = rng.randint(1, 4)
                r_start = start + length
                rebound = tuple(
                    IspPower(isp_index=t, power_w=int(base_power * rng.uniform(0.3, 0.8)))
                    for t in range(r_start, min(n_isp, r_start + r_len))
                )
            options.append(
                FlexOfferOption(
                    option_ref=f"opt-{j}",
                    isps=isps,
                    price_per_mwh=base_price + j * rng.randint(0, 20) * EUR,
                    min_activation_ppm=min_ppm,
                    rebound=rebound,
                )
            )
        offers.append(
            FlexOffer(
                offer_id=_uuid(rng),
                session_id=session,
                fsp=rng.choice(fsps),
                request_id=rid if (target == cp_code and rng.random() < 0.5) else None,
                congestion_point=cp_code,
                direction=direction,  # type: ignore[arg-type]
                expires_at=START,
                options=tuple(options),
            )
        )
    if time_limit_s is None:  # the wall-clock safety net only: HiGHS stops on work limits
        time_limit_s = 600
    return InputBundle(
        session_id=session,
        isp_s=900,
        isp_count=n_isp,
        start_time=START,
        congestion_points=tuple(cps),
        requests=tuple(requests),
        prognoses=tuple(prognoses),
        offers=tuple(offers),
        rules=MarketRules(
            pricing_rule=pricing_rule,  # type: ignore[arg-type]
            time_limit_s=time_limit_s,
            mip_gap_ppm=mip_gap_ppm,
            solver=SolverSpec(name=solver, version=solver_version),  # type: ignore[arg-type]
        ),
    )
