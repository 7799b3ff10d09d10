"""The DSO gateway's loop: open its intraday sessions on a rolling schedule (when configured),
for each open session it has not requested in forecast, escrow and post its requests; follow
the sessions it requested in, log their results and, once FINAL, write its statements.

Why a pass: ``--once`` (tests, cron) is one pass that reads each followed session's state;
``run`` follows the market's event stream (``GET /events``) and makes a pass whenever a
session opens or ``poll_s`` passes without one. Whether a session was requested is read back
from the market (``GET /sessions/{id}/requests``, by submitter) and a session's id is derived
from its window, so a restarted gateway neither requests, escrows nor opens twice.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from adapters.grid.model import GridModelError
from clearing.messages import DPrognosis, FlexOrder, FlexRequest
from market.agents.common import MarketSession, as_message
from market.agents.dso import DsoAgent, DsoAgentError, DsoConfig
from market.agents.intraday import intraday_windows
from market.api.schemas import SessionCreate
from market.dso.config import DsoGatewayConfig, IntradayOpen
from market.dso.drafts import draft_of
from market.dso.grid import DsoGrid
from market.event_stream import MarketEventMessage
from market.participant.errors import ParticipantError
from market.participant.participant import CLEARED_STATES, Participant, api_step

Log = Callable[[dict[str, Any]], None]

#: Store states in lifecycle order: a state event never moves a followed session back.
_RANK = {
    "PENDING": 0,
    "OPEN": 1,
    "CLOSED": 2,
    "CLEARED": 3,
    "DELIVERING": 4,
    "VERIFIED": 5,
    "DISPUTED": 6,
    "FINAL": 7,
}


def json_log(event: dict[str, Any]) -> None:
    """One JSON object per line on stdout: what a supervisor or ``jq`` reads."""
    print(json.dumps(event, sort_keys=True, default=str), flush=True)


def session_kind(row: dict[str, Any], gate_before_delivery_s: int) -> str:
    """``intraday`` when the gate closes at most ``gate_before_delivery_s`` before delivery."""
    lead_s = int(row["delivery_start"]) - int(row["gate_closure"])
    return "intraday" if lead_s <= gate_before_delivery_s else "day_ahead"


def within_budget(requests: list[FlexRequest], cap_units: int) -> tuple[list[FlexRequest], int]:
    """The requests whose budgets fit the per-session cap, in order; and how many did not."""
    kept: list[FlexRequest] = []
    total = 0
    for req in requests:
        if total + req.budget_units <= cap_units:
            kept.append(req)
            total += req.budget_units
    return kept, len(requests) - len(kept)


def due_windows(
    spec: IntradayOpen, gate_before_delivery_s: int, dso: str, now: int
) -> list[SessionCreate]:
    """The intraday sessions to have open at ``now``: deliveries aligned to ``every_s``
    starting within ``horizon_s``, whose gate is still ``min_gate_ahead_s`` away. Ids are
    derived from the DSO and the window, so asking twice asks for the same session."""
    earliest = now + spec.min_gate_ahead_s + gate_before_delivery_s
    first = -(-earliest // spec.every_s) * spec.every_s
    windows = intraday_windows(
        first_start_unix=first,
        until_unix=now + spec.horizon_s + spec.delivery_s,
        every_s=spec.every_s,
        delivery_s=spec.delivery_s,
        gate_before_delivery_s=gate_before_delivery_s,
    )
    return [
        SessionCreate(
            session_id=str(
                uuid.uuid5(
                    uuid.NAMESPACE_URL,
                    f"flexmarket:intraday:{dso}:{w.delivery_start_unix}:{w.delivery_end_unix}",
                )
            ),
            gate_closure=w.gate_closure_unix,
            delivery_start=w.delivery_start_unix,
            delivery_end=w.delivery_end_unix,
            isp_s=spec.isp_s,
            challenge_window_s=spec.challenge_window_s,
        )
        for w in windows
        if w.delivery_start_unix <= now + spec.horizon_s
    ]


@dataclass
class DsoGateway:
    """One DSO's gateway: its participant (API + chain), its grid and its config."""

    participant: Participant
    config: DsoGatewayConfig
    grid: DsoGrid
    log: Log = json_log
    now: Callable[[], float] = time.time
    followed: dict[str, str] = field(default_factory=dict)  # session id -> last state logged
    recovered: bool = False
    opened: set[str] = field(default_factory=set)  # intraday session ids known to the market

    def _wanted(self, row: dict[str, Any]) -> bool:
        sched = self.config.schedule
        kind = session_kind(row, sched.intraday_gate_before_delivery_s)
        return sched.intraday if kind == "intraday" else sched.day_ahead

    def _mine(self, session_id: str) -> list[dict[str, Any]]:
        with api_step("session_id"):
            rows = self.participant.client.requests(session_id)
        me = self.participant.address
        return [r for r in rows if str(r.get("submitter", "")).lower() == me]

    def _agent(self, row: dict[str, Any]) -> DsoAgent:
        """The DSO agent for one session row, on a fresh forecaster of its day."""
        session = MarketSession(
            session_id=str(row["id"]),
            start_unix=int(row["delivery_start"]),
            n_isps=(int(row["delivery_end"]) - int(row["delivery_start"])) // int(row["isp_s"]),
            gate_closure_unix=int(row["gate_closure"]),
            isp_s=int(row["isp_s"]),
        )
        day = dt.datetime.fromtimestamp(session.start_unix, dt.UTC).date()
        policy = self.config.budget
        return DsoAgent(
            forecaster=self.grid.forecaster(day),
            session=session,
            config=DsoConfig(
                max_price_per_mwh=policy.max_price_per_mwh,
                headroom_pct=policy.headroom_pct,
                all_or_nothing=policy.all_or_nothing,
            ),
        )

    def plan(self, row: dict[str, Any]) -> list[FlexRequest]:
        """The requests for one session: forecast on the grid, capped by the budget policy."""
        return self._plan(row)[1]

    def _plan(self, row: dict[str, Any]) -> tuple[DsoAgent, list[FlexRequest]]:
        agent = self._agent(row)
        sid = agent.session.session_id
        policy = self.config.budget
        ev_load = None
        if self.config.schedule.use_prognoses:
            prognoses = self.prognoses(sid)
            ev_load = agent.ev_load_from_prognoses(prognoses) if prognoses else None
        requests = agent.requests(ev_load)
        for need in agent.unresolved:
            self.log({"event": "unresolved", "session_id": sid, "need": asdict(need)})
        kept, dropped = within_budget(requests, policy.max_budget_units_per_session)
        if dropped:
            self.log(
                {
                    "event": "over_budget",
                    "session_id": sid,
                    "dropped": dropped,
                    "cap_units": policy.max_budget_units_per_session,
                }
            )
        return agent, kept

    def prognoses(self, session_id: str) -> list[DPrognosis]:
        """The FSPs' published prognoses of the session (their EVs' planned load)."""
        with api_step("session_id"):
            rows = self.participant.client.prognoses(session_id)
        return [as_message(DPrognosis, r) for r in rows]

    def _due(self, row: dict[str, Any]) -> bool:
        lead = self.config.schedule.request_lead_s
        return lead is None or int(row["gate_closure"]) - int(self.now()) <= lead

    @property
    def manual(self) -> bool:
        """``requests.approval: manual``: draft for the DSO, never escrow."""
        return self.config.requests.approval == "manual"

    def request_session(self, row: dict[str, Any]) -> list[FlexRequest]:
        """Escrow and post this session's requests unless this DSO already requested in it;
        in manual approval, draft them for the DSO instead (once: a decided draft is final)."""
        sid = str(row["id"])
        if self._mine(sid):
            self.followed.setdefault(sid, str(row["state"]))
            return []
        if self.manual and self.participant.request_drafts(sid):
            return []  # drafted already: the DSO decides, the page posts
        try:
            agent, requests = self._plan(row)
        except (DsoAgentError, GridModelError) as exc:
            self.log({"event": "skipped", "session_id": sid, "reason": str(exc)})
            return []
        if not requests:
            self.log({"event": "no_congestion", "session_id": sid})
            return []
        for req in requests:
            if self.manual:
                self.participant.draft_request(draft_of(agent, req))
            else:
                self.participant.post_request(req)
            self.log(
                {
                    "event": "drafted" if self.manual else "requested",
                    "session_id": sid,
                    "request_id": req.request_id,
                    "congestion_point": req.congestion_point,
                    "direction": req.direction,
                    "budget_units": req.budget_units,
                    "isps": len(req.isps),
                }
            )
        if not self.manual:
            self.followed[sid] = str(row["state"])  # manual: followed once the page posts
        return requests

    def follow(self) -> None:
        """Read each followed session's state (``--once``; the loop uses the event stream)."""
        for sid in list(self.followed):
            self.state_changed(sid, self.participant.session_state(sid))

    def state_changed(self, sid: str, state: str) -> None:
        """Log a followed session's new state; once cleared, its orders and the congestion
        before/after; once FINAL, write its statements and stop following it."""
        last = self.followed.get(sid)
        if last is None or _RANK.get(state, -1) <= _RANK.get(last, -1):
            return  # not followed, or not newer (a replayed event after a resume)
        event: dict[str, Any] = {"event": "session", "session_id": sid, "state": state}
        if state in CLEARED_STATES and last not in CLEARED_STATES:
            orders = self.orders(sid)
            event["orders"] = len(orders)
            event["ordered_w"] = sum(i.power_w for o in orders for i in o.isps)
            self.log(event)
            self.congestion(sid, orders)
        else:
            self.log(event)
        if state == "FINAL":
            self.write_statements(sid)  # a failure leaves it followed: the next pass retries
            del self.followed[sid]
        else:
            self.followed[sid] = state

    def write_statements(self, session_id: str) -> Path:
        """This DSO's settlements of a FINAL session (and the clearing house's netting, once
        there) as ``<output_dir>/statements/<session>.json``."""
        statements = self.participant.statements(session_id)
        path = Path(self.config.output_dir) / "statements" / f"{session_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(statements, sort_keys=True, indent=1, default=str))
        tmp.replace(path)  # never a half-written statement
        self.log({"event": "statements", "session_id": session_id, "path": str(path)})
        return path

    def open_intraday(self) -> list[str]:
        """Ask the market to open the intraday sessions now due (``schedule.intraday_open``);
        a refusal (the operator's bounds) is logged, the pass goes on."""
        sched = self.config.schedule
        if sched.intraday_open is None:
            return []
        due = due_windows(
            sched.intraday_open,
            sched.intraday_gate_before_delivery_s,
            self.participant.address,
            int(self.now()),
        )
        todo = [b for b in due if b.session_id not in self.opened]
        if not todo:
            return []
        self.opened |= {str(r["id"]) for r in self.participant.sessions()}
        out = []
        for body in todo:
            if body.session_id in self.opened:
                continue
            try:
                self.participant.open_session(body)
            except ParticipantError as exc:
                self.log(
                    {
                        "event": "open_refused",
                        "session_id": body.session_id,
                        "field": exc.field,
                        "reason": exc.reason,
                    }
                )
                continue
            self.opened.add(body.session_id)
            out.append(body.session_id)
            self.log(
                {
                    "event": "opened",
                    "session_id": body.session_id,
                    "gate_closure": body.gate_closure,
                    "delivery_start": body.delivery_start,
                    "delivery_end": body.delivery_end,
                }
            )
        return out

    def orders(self, session_id: str) -> list[FlexOrder]:
        """Every order of a cleared session (all FSPs: the DSO pays for them all)."""
        with api_step("session_id"):
            rows = self.participant.client.orders(session_id)
        return [as_message(FlexOrder, r) for r in rows]

    def congestion(self, session_id: str, orders: list[FlexOrder]) -> None:
        """Re-run the power flow with the ordered flexibility; log congestion before/after
        per point and ISP (ordered values: the delivered ones come with verification)."""
        with api_step("session_id"):
            row = self.participant.client.session(session_id)
        try:
            agent = self._agent(row)
            agent.forecast()
            rows = agent.report(agent.delivered_from_orders(orders))
        except (DsoAgentError, GridModelError) as exc:
            self.log({"event": "skipped", "session_id": session_id, "reason": str(exc)})
            return
        self.log(
            {"event": "congestion", "session_id": session_id, "rows": [asdict(r) for r in rows]}
        )

    def recover(self) -> None:
        """After a (re)start: follow every unfinished, no longer open session this DSO
        requested in, so its results are logged although an earlier process posted them."""
        for row in self.participant.sessions():
            sid = str(row["id"])
            unfinished = row["state"] not in ("OPEN", "FINAL") and sid not in self.followed
            if unfinished and self._mine(sid):
                self.followed[sid] = ""
        self.recovered = True

    def run_once(self, *, follow: bool = True) -> list[FlexRequest]:
        """One pass: open due intraday sessions, request in every wanted open session, then
        (``follow``) read the requested ones' states."""
        if not self.recovered:
            self.recover()
        self.open_intraday()
        posted: list[FlexRequest] = []
        for row in self.participant.sessions(state="OPEN"):
            if self._wanted(row) and self._due(row):
                try:
                    posted += self.request_session(row)
                except ParticipantError as exc:
                    self.log(
                        {
                            "event": "refused",
                            "session_id": row["id"],
                            "field": exc.field,
                            "reason": exc.reason,
                        }
                    )
        if follow:
            self.follow()
        return posted

    def on_event(self, message: MarketEventMessage) -> bool:
        """Apply one market event; True when it calls for a pass (a session opened)."""
        if message.event != "session_state":
            return False
        sid, state = str(message.data.get("session_id", "")), str(message.data.get("state", ""))
        self.state_changed(sid, state)
        return state == "OPEN"

    def run_forever(
        self,
        sleep: Callable[[float], None] = time.sleep,
        events: Callable[[int], Any] | None = None,
    ) -> None:
        """Follow the market's event stream until interrupted: a pass at start, whenever a
        session opens and every ``schedule.poll_s`` without one (intraday sessions come due
        with time, not with events). A pass the market or the chain fails (unreachable,
        refused) is logged and the next one retries it; a dropped stream resumes after the
        last event seen (``events(after)`` is the stream, default ``follow_events``)."""
        poll_s = self.config.schedule.poll_s
        pump = _EventPump(events or self._events)
        due = True
        while True:
            try:
                if due and pump.idle():  # a burst of events (a replayed history): one pass
                    self.run_once()  # follows too: a step that failed is retried
                    pump.start()
                    due = False
                message = pump.get(0.0 if due else poll_s)
                if message is None:
                    due = True
                elif isinstance(message, BaseException):
                    self.log({"event": "stream_failed", "field": "events", "reason": str(message)})
                    sleep(poll_s)
                    pump.restart()
                    due = True
                else:
                    due = self.on_event(message) or due
            except ParticipantError as exc:
                self.log({"event": "pass_failed", "field": exc.field, "reason": exc.reason})
                sleep(poll_s)
                due = True
            except httpx.HTTPError as exc:
                self.log({"event": "pass_failed", "field": "api", "reason": str(exc)})
                sleep(poll_s)
                due = True

    def _events(self, after: int) -> Any:
        return self.participant.client.follow_events(after=after)


class _EventPump:
    """The event stream read in a thread, so the loop can wait for an event *or* ``poll_s``.

    Remembers the last event id: a restarted pump resumes there, so no event is lost."""

    def __init__(self, events: Callable[[int], Any]) -> None:
        self.events = events
        self.queue: queue.Queue[MarketEventMessage | BaseException] = queue.Queue()
        self.last = 0
        self.started = False

    def start(self) -> None:
        if not self.started:
            self.started = True
            threading.Thread(target=self._run, daemon=True, name="dso-events").start()

    def restart(self) -> None:
        self.started = False
        self.start()

    def _run(self) -> None:
        try:
            for message in self.events(self.last):
                self.queue.put(message)
        except Exception as exc:  # handed to the loop, which logs it and restarts the pump
            self.queue.put(exc)
        else:
            self.queue.put(ConnectionError("the event stream ended"))

    def idle(self) -> bool:
        return self.queue.empty()

    def get(self, timeout_s: float) -> MarketEventMessage | BaseException | None:
        try:
            item = self.queue.get(timeout=timeout_s) if timeout_s > 0 else self.queue.get_nowait()
        except queue.Empty:
            return None
        if isinstance(item, MarketEventMessage):
            self.last = item.id
        return item
