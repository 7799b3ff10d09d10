"""``flexmarket bench intraday``: from an intraday session's gate closure (15 min before
delivery) to every order being at its FSP gateway, with ``offers`` offers. Goal: 10 s.

The roles are the live orchestrator's processes (anvil, ``serve`` and ``worker``, one FSP gateway
per FSP with its stations) on ``bench live``'s synthetic scenario; no DSO gateway: the bench
is the DSO. Before the gateways' bidding lead it escrows and posts one UP request at each
congestion point where every FSP has EVs (the market takes one request per point and
direction), so each gateway, bidding once, offers on every one. A gateway makes one offer per
request, so the rest of the ``offers`` come from load FSPs (participants without a gateway
or assets) through the participant library, priced above the gateways' so they load the
clearing without taking the orders measured. Then the chain moves to gate closure, ``t0``.
Per gateway: the first moment its ``GET /status`` shows every order of its verified against
the on-chain root. Phases: the worker's close step (seen as CLOSED; its receipts and
closeSession timed by the worker), its clearing (input bundle, HiGHS) and its postClearing
transaction (timed by the worker, the steps' details), and the orders' delivery from CLEARED
to the last gateway.
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearing.messages import FlexOffer, FlexOfferOption, FlexRequest, IspPower, RequestIsp
from clearing.units import payment_units_ceil
from market.live import bench, bids, configs, phases
from market.live.procs import LiveError, wait_until
from market.participant.connect import connect
from market.participant.participant import Participant
from market.replay.derive import derived_uuid
from market.replay.grid import ReplayGrid
from market.replay.scenario import Scenario
from market.replay.world import stays

GOAL_S = 10.0
#: The bench opens the session this long before the gateways' lead, to post every request
#: first (each an escrow transaction; the chain's clock runs on meanwhile).
REQUESTS_LEAD_S = 1800
REQUEST_W = 4000  # UP per request: inside one point's fleet envelope
LOAD_OFFER_W = 500
OFFERS_PER_LOAD_FSP = 100
BID_TIMEOUT_S = 900.0
POLL_S = 0.05


def scenario(fsps: int, stations: int, offers: int, seed: int = 0) -> dict[str, Any]:
    """``bench live``'s scenario (one intraday session, gate 11:45, delivery 12:00-13:00),
    with a load FSP (no EV: no gateway) per ``OFFERS_PER_LOAD_FSP`` offers."""
    doc = bench.bench_scenario(fsps, stations, seed)
    doc["name"] = f"bench-intraday-{fsps}x{stations}"
    doc["description"] = "flexmarket bench intraday: synthetic, seeded"
    for k in range(-(-offers // OFFERS_PER_LOAD_FSP)):
        doc["participants"].append({"id": f"load-{k + 1}", "role": "EMSP", "name": f"Load {k}"})
    return doc


def shared_points(sc: Scenario, grid: ReplayGrid) -> list[str]:
    """The congestion points where every FSP with EVs has one: a request there gets every
    gateway's offer."""
    at: dict[str, set[str]] = defaultdict(set)
    for stay in stays(sc):
        at[grid.station_point[stay.station]].add(stay.ev.fsp)
    fsps = {stay.ev.fsp for stay in stays(sc)}
    return sorted(cp for cp, there in at.items() if fsps <= there)


def bench_requests(sc: Scenario, session_id: str, points: list[str]) -> list[FlexRequest]:
    """One request per point, each in one ISP (round robin over the session's); the budget
    covers the most it can cost (``REQUEST_W`` in one ISP at the max price)."""
    spec = sc.sessions[0]
    start, end = sc.at(spec.delivery_start), sc.at(spec.delivery_end)
    isp_s, price = sc.period.isp_s, sc.market.dso_alternative_cost_per_mwh
    n_isps = (end - start) // isp_s
    energy_wh = -(-REQUEST_W * isp_s // 3600)
    out = []
    for k, point in enumerate(points):
        isp = RequestIsp(
            isp_index=k % n_isps,
            disposition="Requested",
            min_power_w=REQUEST_W // 2,
            max_power_w=REQUEST_W,
        )
        out.append(
            FlexRequest(
                request_id=derived_uuid(sc.seed, sc.name, "bench-request", k),
                session_id=session_id,
                congestion_point=point,
                direction="UP",
                revision=0,
                expires_at=sc.at(spec.gate_closure),
                max_price_per_mwh=price,
                budget_units=payment_units_ceil(energy_wh, price),
                all_or_nothing=False,
                isps=(isp,),
            )
        )
    return out


def load_offers(
    sc: Scenario, fsp: str, address: str, requests: list[FlexRequest], count: int
) -> list[FlexOffer]:
    """``count`` offers of load FSP ``fsp`` (``address``) over ``requests`` round robin, each
    ``LOAD_OFFER_W`` in its request's ISP at 60-99 % of the request's price: dearer than a
    gateway's, so they enlarge the clearing without taking the measured orders."""
    out = []
    for k in range(count):
        req = requests[k % len(requests)]
        (isp,) = req.isps
        option = FlexOfferOption(
            option_ref="load",
            isps=(IspPower(isp_index=isp.isp_index, power_w=LOAD_OFFER_W),),
            price_per_mwh=req.max_price_per_mwh * (60 + k % 40) // 100,
            min_activation_ppm=100_000,
        )
        out.append(
            FlexOffer(
                offer_id=derived_uuid(sc.seed, sc.name, "load-offer", fsp, k),
                session_id=req.session_id,
                fsp=address,
                request_id=req.request_id,
                congestion_point=req.congestion_point,
                direction=req.direction,
                expires_at=req.expires_at,
                options=(option,),
            )
        )
    return out


@dataclass
class Clock:
    """Wall times (``time.time()``) of what the bench saw after gate closure."""

    gate: float
    closed: float | None = None
    cleared: float | None = None


def run(
    day: phases.LiveDay,
    grid: ReplayGrid,
    *,
    api: str,
    rpc_url: str,
    offers_wanted: int,
    market_db: Path,
) -> dict[str, Any]:
    """The bench's one session, from requests to every gateway holding its orders."""
    sc = day.scenario
    spec = sc.sessions[0]
    points = shared_points(sc, grid)
    if not points:
        raise LiveError("no congestion point has EVs of every FSP: add --stations")
    sid = phases.open_session(day, spec, configs.FSP_LEAD_S + REQUESTS_LEAD_S)
    requester = _participant(sc, configs.dso_ids(sc)[0], api, rpc_url)
    requests = bench_requests(sc, sid, points)
    day.progress(f"{spec.id}: the DSO escrows and posts {len(requests)} requests")
    for request in requests:
        requester.post_request(request)
    gate = sc.at(spec.gate_closure)
    day.control.warp_to(gate - configs.FSP_LEAD_S)
    day.progress(f"{spec.id}: the gateways bid")
    for fsp in day.fsps:
        wait_until(
            f"{spec.id}: {fsp.fsp_id} gateway posts its offers",
            lambda fsp=fsp: _bid_outcome(fsp, sid),
            day.supervisor,
            timeout_s=BID_TIMEOUT_S,
        )
    _load(day, api, rpc_url, requests, offers_wanted - len(day.fsps) * len(requests))
    day.operator.sign_in()  # offers are private before gate closure, but not to the operator
    rows = day.operator.offers(sid)
    offers = len(rows)
    gateways = {f.address for f in day.fsps}
    from_gateways = sum(1 for r in rows if str(r.get("submitter", "")).lower() in gateways)
    # the meter intervals before the gate are in (as they would be, sent as they ended), so
    # the market is not relaying an hour of readings at the gate that a warp crossed at once
    day.control.warp_to(gate - 1)
    phases.barrier(day, gate - 1)
    day.progress(f"{spec.id}: {offers} offers in; gate closure")
    day.control.warp_to(gate)
    clock = Clock(gate=time.time())
    reached, want, orders = _follow(day, sid, clock)
    per_fsp = {f.fsp_id: reached[f.fsp_id] - clock.gate for f in day.fsps if f.fsp_id in reached}
    timings = _step_times(market_db, sid)
    out = summary(
        per_fsp,
        fsps=len(day.fsps),
        stations=len(sc.stations),
        offers_wanted=offers_wanted,
        offers=offers,
        requests=len(requests),
        orders=orders,
        phases=_phases(clock, timings, reached),
        expected_fsps=len(want),
    )
    out["offers_from_gateways"] = from_gateways
    return out


def _participant(sc: Scenario, who: str, api: str, rpc_url: str) -> Participant:
    return connect(api, configs.role_env(sc, who)[configs.KEY_ENV], rpc_url=rpc_url)


def _load(
    day: phases.LiveDay, api: str, rpc_url: str, requests: list[FlexRequest], count: int
) -> None:
    """The load FSPs commit and submit ``count`` offers between them (in parallel)."""
    sc = day.scenario
    ids = sorted(p.id for p in sc.participants if p.id.startswith("load-"))
    if count <= 0 or not ids:
        return
    share = [count // len(ids) + (i < count % len(ids)) for i in range(len(ids))]
    day.progress(f"{sc.sessions[0].id}: {len(ids)} load FSPs submit {count} offers")

    def submit(who: str, n: int) -> None:
        if n:
            p = _participant(sc, who, api, rpc_url)
            p.submit_offers(load_offers(sc, who, p.address, requests, n))

    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(submit, who, n) for who, n in zip(ids, share, strict=True)]:
            done.result()


def _bid_outcome(fsp: phases.Fsp, sid: str) -> bool:
    """The gateway has posted its offers; a gateway that will not is named at once."""
    for e in bids.log_events(fsp.log, sid):
        if e.get("event") == "offered":
            return True
        if e.get("event") == "no_bid" and e.get("reason") in ("no_ev", "no_offer", "gate_closed"):
            raise LiveError(f"{fsp.fsp_id} gateway made no offer: {e.get('reason')} ({e})")
    return False


def _follow(
    day: phases.LiveDay, sid: str, clock: Clock
) -> tuple[dict[str, float], dict[str, int], int]:
    """Poll the session and the gateways until each has verified all of its orders;
    returns the wall time each did, each one's order count and the session's."""
    want: dict[str, int] | None = None
    reached: dict[str, float] = {}
    orders = 0
    deadline = time.monotonic() + phases.PHASE_TIMEOUT_S
    while time.monotonic() < deadline:
        day.supervisor.check()
        now = time.time()
        if want is None:
            state = day.state(sid)
            if state != "OPEN" and clock.closed is None:
                clock.closed = now
            if state in ("CLEARED", "DELIVERING"):
                clock.cleared = now
                rows = day.operator.orders(sid)
                orders = len(rows)
                want = {
                    f.fsp_id: sum(1 for o in rows if str(o.get("fsp", "")).lower() == f.address)
                    for f in day.fsps
                }
                want = {k: v for k, v in want.items() if v}
        if want is not None:
            for f in day.fsps:
                if f.fsp_id in want and f.fsp_id not in reached:
                    got = day.status(f)["orders"]
                    if got["rejected"]:
                        raise LiveError(f"{f.fsp_id} gateway rejected {got['rejected']} orders")
                    if got["verified"] >= want[f.fsp_id]:
                        reached[f.fsp_id] = now
            if set(reached) >= set(want):
                break
        time.sleep(POLL_S)
    return reached, want or {}, orders


def _step_times(market_db: Path, sid: str) -> dict[str, float]:
    """The worker's own timings of its close and clear steps (the market's store, read after
    the fact): receipts, closeSession; input bundle, HiGHS, clearing, postClearing."""
    from market.lifecycle.steps import CLEAR_TIMES, CLOSE_TIMES
    from market.lifecycle.worker import step_history
    from market.store.db import make_engine

    patterns = {"close": CLOSE_TIMES, "clear": CLEAR_TIMES}
    out: dict[str, float] = {}
    engine = make_engine(f"sqlite:///{market_db}")
    try:
        for row in step_history(engine, sid):
            pattern = patterns.get(str(row.get("step")))
            found = pattern.search(str(row.get("detail", ""))) if pattern else None
            if found:
                out.update({k: float(v) for k, v in found.groupdict().items()})
    finally:
        engine.dispose()
    return out


def _phases(clock: Clock, timings: dict[str, float], reached: dict[str, float]) -> dict[str, Any]:
    """Seen by the bench: ``close_s`` (gate to CLOSED), ``orders_published_s`` (gate to
    CLEARED), ``order_delivery_s`` (CLEARED to the last gateway). Timed by the worker: the
    close step's ``roots_read_s`` (chain reads), ``receipts_s`` and ``close_tx_s``, the
    clear step's ``input_s``, ``solve_s``, ``clearing_s`` (both and the bundles'
    publication) and ``commit_s`` (postClearing)."""
    out: dict[str, Any] = {}
    if clock.closed is not None:
        out["close_s"] = round(clock.closed - clock.gate, 3)
    names = {"post_s": "commit_s"}
    for key, value in sorted(timings.items()):
        out[names.get(key, key)] = round(value, 3)
    if clock.cleared is not None:
        out["orders_published_s"] = round(clock.cleared - clock.gate, 3)
        if reached:
            out["order_delivery_s"] = round(max(reached.values()) - clock.cleared, 3)
    return out


def summary(
    per_fsp: dict[str, float],
    *,
    fsps: int,
    stations: int,
    offers_wanted: int,
    offers: int,
    requests: int,
    orders: int,
    phases: dict[str, Any],
    expected_fsps: int,
) -> dict[str, Any]:
    """The bench's JSON; ``failure`` says plainly what missed the goal or went missing."""
    values = list(per_fsp.values())
    out: dict[str, Any] = {
        "bench": "intraday",
        "fsps": fsps,
        "stations": stations,
        "requests": requests,
        "offers_wanted": offers_wanted,
        "offers": offers,
        "orders": orders,
        "gateways_with_all_orders": len(values),
        "goal_s": GOAL_S,
        "phases": phases,
    }
    out.update(bench.spread(values))
    out["gateways_with_orders"] = expected_fsps
    failure = _failure(out)
    out["goal_met"] = failure is None  # every gateway had all its orders within GOAL_S
    if failure:
        out["failure"] = failure
    return out


def _failure(out: dict[str, Any]) -> str | None:
    expected_fsps = out["gateways_with_orders"]
    if out["offers"] < out["offers_wanted"]:
        return f"only {out['offers']} of {out['offers_wanted']} offers were submitted"
    if out["orders"] == 0:
        return "the session cleared with no order"
    if out["gateways_with_all_orders"] < expected_fsps:
        return (
            f"{out['gateways_with_all_orders']} of {expected_fsps} FSP gateways got all their "
            f"orders within {phases.PHASE_TIMEOUT_S:g} s"
        )
    if out["max_s"] > GOAL_S:
        return (
            f"the last gateway had its orders {out['max_s']} s after gate closure "
            f"(goal {GOAL_S:g} s)"
        )
    return None
