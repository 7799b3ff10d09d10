"""The orchestrator's clock: it warps the chain through each session's phases and, in
delivery, steps meter interval by meter interval behind a barrier.

Why a barrier: every process reads the chain's latest block time, so the stations sample an
interval as soon as the chain passes it; the next warp waits until every station's reading up
to ``t`` is in its FSP gateway (``GET /status`` ``last_reading``) and relayed to the market
(outbox ``pending`` 0). The readings, and so the settlement, are then the same however fast
the machine is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from adapters.chain.anvil import AnvilControl
from market.api.schemas import SessionCreate
from market.client import MarketClient
from market.live import bids, configs
from market.live.procs import LiveError, Supervisor, wait_until
from market.replay.derive import derived_uuid
from market.replay.scenario import Scenario, SessionSpec

Progress = Callable[[str], None]
PHASE_TIMEOUT_S = 180.0
BARRIER_TIMEOUT_S = 120.0
NO_BID_S = 15.0


@dataclass
class Fsp:
    """One FSP gateway as the orchestrator sees it: its status URL and its stations."""

    fsp_id: str
    address: str  # lower case
    status_url: str
    stations: list[str]
    log: Path  # its JSON log (``offered``, ``no_bid``): what it decided, in its own words
    windows: tuple[bids.StayWindow, ...] = ()  # its EVs' stays: where it bids, and when
    orders_so_far: int = 0  # this FSP's orders over the sessions run so far


@dataclass
class LiveDay:
    """What the phases need: the chain, the market as operator, the roles, the files."""

    scenario: Scenario
    control: AnvilControl
    operator: MarketClient
    supervisor: Supervisor
    fsps: list[Fsp]
    dso_log: Path
    dso_out: Path
    progress: Progress
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))
    session_ids: dict[str, str] = field(default_factory=dict)  # spec id -> session id
    cleared_wall: dict[str, float] = field(default_factory=dict)  # session id -> seen CLEARED

    def status(self, fsp: Fsp) -> dict[str, Any]:
        answer = self.http.get(fsp.status_url)
        answer.raise_for_status()
        out: dict[str, Any] = answer.json()
        return out

    def state(self, session_id: str) -> str:
        return str(self.operator.session(session_id)["state"])

    def wait_state(self, session_id: str, states: tuple[str, ...], what: str) -> str:
        got = wait_until(
            f"{what}: session {session_id} to reach {'/'.join(states)}",
            lambda: (s := self.state(session_id)) in states and s,
            self.supervisor,
            timeout_s=PHASE_TIMEOUT_S,
        )
        return str(got)

    def dso_events(self, session_id: str) -> list[dict[str, Any]]:
        return bids.log_events(self.dso_log, session_id)


def barrier(day: LiveDay, t: int, *, reported_only: bool = False) -> None:
    """Wait until every station's reading at ``t`` (its meter interval floor) is in its FSP
    gateway and the gateway's outbox is empty (relayed to the market). ``reported_only``:
    only the stations that have reported at all (one silent so far has nothing to plan)."""
    interval = day.scenario.period.meter_interval_s
    floor = t // interval * interval

    def done() -> bool:
        for fsp in day.fsps:
            status = day.status(fsp)
            last = status.get("last_reading", {})
            waited = [st for st in fsp.stations if st in last or not reported_only]
            if any(int(last.get(st, 0)) < floor for st in waited):
                return False
            if int(status.get("outbox", {}).get("pending", 0)) > 0:
                return False
        return True

    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while not done():
        day.supervisor.check()
        if time.monotonic() > deadline:
            late = {
                f.fsp_id: {
                    st: day.status(f).get("last_reading", {}).get(st)
                    for st in f.stations
                    if int(day.status(f).get("last_reading", {}).get(st, 0)) < floor
                }
                for f in day.fsps
            }
            raise LiveError(f"delivery: readings up to {t} not relayed in time: {late}")
        time.sleep(0.05)


def open_session(day: LiveDay, spec: SessionSpec, before_gate_s: int = configs.FSP_LEAD_S) -> str:
    """The operator schedules the session (the replay's id and terms); the worker opens it.
    The chain moves to the opening first and every station's reading up to it is in its
    gateway before the session exists, so each gateway plans its fleet from the same reports
    whatever the machine's speed (the replay's FSPs plan from the same ones). It opens
    ``before_gate_s`` before gate closure: the gateways' bidding lead unless a bench says."""
    sc = day.scenario
    sid = derived_uuid(sc.seed, sc.name, "session", spec.id)
    day.session_ids[spec.id] = sid
    gate = sc.at(spec.gate_closure)
    day.control.warp_to(gate - before_gate_s)
    barrier(day, day.control.block_timestamp(), reported_only=True)
    day.operator.create_session(
        SessionCreate(
            session_id=sid,
            gate_closure=gate,
            delivery_start=sc.at(spec.delivery_start),
            delivery_end=sc.at(spec.delivery_end),
            isp_s=sc.period.isp_s,
            challenge_window_s=sc.market.challenge_window_s,
        )
    )
    day.wait_state(sid, ("OPEN",), f"{spec.id}: open")
    return sid


def _window(day: LiveDay, spec: SessionSpec) -> tuple[int, int]:
    return day.scenario.at(spec.delivery_start), day.scenario.at(spec.delivery_end)


def wait_prognoses(day: LiveDay, spec: SessionSpec, sid: str) -> None:
    """Every FSP gateway has seen the open session and published its prognosis at each
    congestion point where it has an EV in delivery (or said it has no EV); then the clock
    moves to the DSO's request time, so the DSO's forecast includes them (the replay's
    order). ``NO_BID_S`` only bounds a gateway that neither publishes nor says why."""
    for fsp in day.fsps:
        wait_until(
            f"{spec.id}: {fsp.fsp_id} gateway sees the session",
            lambda fsp=fsp: sid in day.status(fsp).get("sessions", {}),
            day.supervisor,
            timeout_s=PHASE_TIMEOUT_S,
        )
    start, end = _window(day, spec)
    expected = {f.fsp_id: bids.expected_points(f.windows, start, end) for f in day.fsps}

    def missing() -> list[str]:
        rows = day.operator.prognoses(sid)
        return [
            f.fsp_id
            for f in day.fsps
            if not bids.prognoses_in(
                expected[f.fsp_id],
                bids.published_points(rows, f.address),
                bids.log_events(f.log, sid),
            )
        ]

    late = _until_none(day, missing)
    if late:
        day.progress(f"{spec.id}: no prognosis from {', '.join(late)} within {NO_BID_S:g} s")
    day.control.warp_to(day.scenario.at(spec.gate_closure) - configs.DSO_REQUEST_LEAD_S)


def wait_bids(day: LiveDay, spec: SessionSpec, sid: str) -> None:
    """The DSO has requested (or logged why not); then every FSP gateway with an EV at a
    requested congestion point has posted its offers or said it has none to make."""
    wait_until(
        f"{spec.id}: the DSO gateway's requests",
        lambda: any(
            e["event"] in ("requested", "no_congestion", "skipped", "refused")
            for e in day.dso_events(sid)
        ),
        day.supervisor,
        timeout_s=PHASE_TIMEOUT_S,
    )
    requests = day.operator.requests(sid)
    if not requests:
        return
    start, end = _window(day, spec)
    expected = {f.fsp_id: bids.expected_points(f.windows, start, end) for f in day.fsps}

    def missing() -> list[str]:
        return [
            f.fsp_id
            for f in day.fsps
            if not bids.bid_done(expected[f.fsp_id], requests, bids.log_events(f.log, sid))
        ]

    late = _until_none(day, missing)
    if late:
        day.progress(f"{spec.id}: no bid from {', '.join(late)} within {NO_BID_S:g} s")


def _until_none(day: LiveDay, missing: Callable[[], list[str]]) -> list[str]:
    """Poll ``missing`` until it is empty or ``NO_BID_S`` passed; what is still missing."""
    deadline = time.monotonic() + NO_BID_S
    while True:
        day.supervisor.check()
        late = missing()
        if not late or time.monotonic() > deadline:
            return late
        time.sleep(0.1)


def gate_closure(day: LiveDay, spec: SessionSpec, sid: str) -> None:
    day.control.warp_to(day.scenario.at(spec.gate_closure))
    day.wait_state(sid, ("CLEARED", "DELIVERING"), f"{spec.id}: gate closure")
    day.cleared_wall[sid] = time.time()  # bench live: latency is measured from here


def wait_dispatch(day: LiveDay, spec: SessionSpec, sid: str) -> None:
    """Every FSP gateway has received and dispatched its orders of the session."""
    orders = day.operator.orders(sid)
    for fsp in day.fsps:
        fsp.orders_so_far += sum(1 for o in orders if str(o.get("fsp", "")).lower() == fsp.address)
        want = fsp.orders_so_far
        if not want:
            continue
        wait_until(
            f"{spec.id}: {fsp.fsp_id} gateway dispatches its orders",
            lambda fsp=fsp, want=want: day.status(fsp)["orders"]["dispatched"] >= want,
            day.supervisor,
            timeout_s=PHASE_TIMEOUT_S,
        )


def delivery(day: LiveDay, spec: SessionSpec) -> None:
    """Step the chain through delivery one meter interval at a time, each behind the
    barrier."""
    sc = day.scenario
    start, end = sc.at(spec.delivery_start), sc.at(spec.delivery_end)
    step, isp = sc.period.meter_interval_s, sc.period.isp_s
    now = day.control.block_timestamp()
    t = max((now // step + 1) * step, start - step)
    total = (end - start) // isp
    while t <= end:
        if day.control.block_timestamp() < t:
            day.control.warp_to(t)
        barrier(day, t)
        if t % isp == 0 and t >= start:
            day.progress(f"{spec.id}: delivery {min(total, (t - start) // isp)}/{total} ISPs")
        t += step


def settle(day: LiveDay, spec: SessionSpec, sid: str) -> None:
    """After the meter grace the worker verifies; after the challenge window it finalizes
    and nets; then each FSP gateway withdraws and the DSO gateway writes its statements."""
    sc = day.scenario
    end = sc.at(spec.delivery_end)
    day.control.warp_to(end + sc.market.meter_grace_s)
    day.wait_state(sid, ("VERIFIED", "FINAL"), f"{spec.id}: verify")
    row = day.operator.session(sid)
    verified_at = max(day.control.block_timestamp(), end + sc.market.meter_grace_s)
    day.control.warp_to(verified_at + int(row.get("challenge_window_s", 0)) + 1)
    day.wait_state(sid, ("FINAL",), f"{spec.id}: final")
    wait_until(  # the worker's clearing step: then each FSP gateway withdraws what is left
        f"{spec.id}: the clearing house nets the session",
        lambda: sid in day.operator.netted_periods(),
        day.supervisor,
        timeout_s=PHASE_TIMEOUT_S,
    )
    for fsp in day.fsps:
        wait_until(
            f"{spec.id}: {fsp.fsp_id} gateway settles",
            lambda fsp=fsp: any(e.get("event") == "settled" for e in bids.log_events(fsp.log, sid)),
            day.supervisor,
            timeout_s=PHASE_TIMEOUT_S,
        )
    if day.operator.requests(sid):
        statements = day.dso_out / "statements" / f"{sid}.json"
        wait_until(
            f"{spec.id}: the DSO gateway's statements",
            statements.exists,
            day.supervisor,
            timeout_s=PHASE_TIMEOUT_S,
        )
