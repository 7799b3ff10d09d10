"""The DSO gateway's loop: for each open session it has not requested in, forecast, escrow and
post its requests; then follow the sessions it requested in and log their results.

Why a pass: ``--once`` (tests, cron) is one pass; ``run`` is passes every ``poll_s``. Whether a
session was requested is read back from the market (``GET /sessions/{id}/requests``, by
submitter), so a restarted gateway neither requests twice nor escrows twice.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from adapters.grid.model import GridModelError
from clearing.messages import FlexOrder, FlexRequest
from market.agents.common import MarketSession, as_message
from market.agents.dso import DsoAgent, DsoAgentError, DsoConfig
from market.dso.config import DsoGatewayConfig
from market.dso.grid import DsoGrid
from market.participant.errors import ParticipantError
from market.participant.participant import CLEARED_STATES, Participant, api_step

Log = Callable[[dict[str, Any]], None]


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


@dataclass
class DsoGateway:
    """One DSO's gateway: its participant (API + chain), its grid and its config."""

    participant: Participant
    config: DsoGatewayConfig
    grid: DsoGrid
    log: Log = json_log
    followed: dict[str, str] = field(default_factory=dict)  # session id -> last state logged
    recovered: bool = False

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
        agent = self._agent(row)
        sid = agent.session.session_id
        policy = self.config.budget
        requests = agent.requests()
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
        return kept

    def request_session(self, row: dict[str, Any]) -> list[FlexRequest]:
        """Escrow and post this session's requests unless this DSO already requested in it."""
        sid = str(row["id"])
        if self._mine(sid):
            self.followed.setdefault(sid, str(row["state"]))
            return []
        try:
            requests = self.plan(row)
        except (DsoAgentError, GridModelError) as exc:
            self.log({"event": "skipped", "session_id": sid, "reason": str(exc)})
            return []
        if not requests:
            self.log({"event": "no_congestion", "session_id": sid})
            return []
        for req in requests:
            self.participant.post_request(req)
            self.log(
                {
                    "event": "requested",
                    "session_id": sid,
                    "request_id": req.request_id,
                    "congestion_point": req.congestion_point,
                    "direction": req.direction,
                    "budget_units": req.budget_units,
                    "isps": len(req.isps),
                }
            )
        self.followed[sid] = str(row["state"])
        return requests

    def follow(self) -> None:
        """Log each followed session's state change; once cleared, its orders."""
        for sid, last in list(self.followed.items()):
            state = self.participant.session_state(sid)
            if state == last:
                continue
            self.followed[sid] = state
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
                del self.followed[sid]

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

    def run_once(self) -> list[FlexRequest]:
        """One pass: request in every wanted open session, then follow the requested ones."""
        if not self.recovered:
            self.recover()
        posted: list[FlexRequest] = []
        for row in self.participant.sessions(state="OPEN"):
            if self._wanted(row):
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
        self.follow()
        return posted

    def run_forever(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Passes every ``schedule.poll_s`` until interrupted; a pass the market or the chain
        fails (unreachable, refused) is logged and the next pass retries it."""
        while True:
            try:
                self.run_once()
            except ParticipantError as exc:
                self.log({"event": "pass_failed", "field": exc.field, "reason": exc.reason})
            except httpx.HTTPError as exc:
                self.log({"event": "pass_failed", "field": "api", "reason": str(exc)})
            sleep(self.config.schedule.poll_s)
