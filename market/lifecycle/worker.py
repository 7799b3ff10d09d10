"""Runs every session from PENDING to FINAL on schedule, one locked, idempotent step at a time.

Before each transaction the step reads the session's on-chain state, so a worker restarted
after a crash (or racing another worker) never sends a transition twice: if the chain is
already past the step, the step only records locally what the chain says.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from adapters.chain.errors import TooEarly
from adapters.chain.types import SessionState
from adapters.clock import Clock, SystemClock
from clearing.settlement.rules import SettlementRules
from market import relay
from market.bundles import BundleStore
from market.ledger import Ledger
from market.lifecycle import steps
from market.lifecycle.context import ClearingHook, Outcome, VerificationHook
from market.lifecycle.locks import step_lock
from market.lifecycle.terms import committed_terms
from market.store import models as m

log = logging.getLogger(__name__)

#: Store state → the name of the step that moves the session on (from ``steps.STEP_TABLE``).
NEXT_STEP = {state: step for state, (step, _) in steps.STEP_TABLE.items()}
CRASH_ENV = "FLEXMARKET_WORKER_CRASH_AT"
BUSY, SKIPPED = "busy", "skipped"
BUSY_WAIT_S = 0.2
MAX_BUSY_WAITS = 150  # 30 s: longer than any step but a very large clearing


@dataclass
class Worker:
    """The lifecycle worker; ``run_once`` performs every step that is due, then returns."""

    engine: Engine
    ledger: Ledger
    bundles: BundleStore
    clock: Clock = field(default_factory=SystemClock)
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    meter_grace_s: int = 900
    poll_s: float = 1.0
    lock_ttl_s: float = 120.0
    verification_hook: VerificationHook | None = None
    clearing_hook: ClearingHook | None = None
    pricing_rule: str = "pay_as_bid"
    # Committed into each session's terms when it opens (None: the defaults).
    settlement_rules: SettlementRules | None = None
    # Committed into each new session's terms: attest only after the CPOs' readings digests
    # (off only by an explicit development choice).
    readings_digests_required: bool = True
    on_step: Callable[[str, str], None] | None = None
    indexer: Any | None = None  # market.indexer.Indexer: followed on every tick when given
    # FSP-signed commitments are relayed from this long before gate closure (None: on every
    # tick); whatever is stored then goes in one batch, later arrivals in further batches.
    relay_lead_s: int | None = None
    # A BLOCKED netting (a payee not named, a refusal) is retried after a delay doubling from
    # the first to the second figure (seconds, real time), not every tick: it rarely fixes
    # itself at once, and each attempt reads the chain and may publish the netting bundle.
    clearing_backoff_s: tuple[float, float] = (5.0, 600.0)
    _blocked: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)

    def crash_point(self, name: str) -> None:
        """Fault injection for crash tests: exit hard (no cleanup) at a named point."""
        if os.environ.get(CRASH_ENV) == name:
            log.error("crash point %s reached: exiting hard", name)
            os._exit(137)

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.indexer is not None:
                    self.indexer.sync()
                self.run_once()
            except Exception:  # keep the loop alive; the step is retried next tick
                log.exception("worker tick failed")
            stop.wait(self.poll_s)

    def run_once(self) -> int:
        """Perform each due step of each unfinished session; returns how many steps ran."""
        with Session(self.engine) as db:
            sessions = list(
                db.exec(
                    select(m.MarketSession)
                    .where(m.MarketSession.state.not_in(("FINAL", "REJECTED")))  # type: ignore[attr-defined]
                    .order_by(col(m.MarketSession.gate_closure))
                )
            )
            if self.clearing_hook is not None:  # FINAL sessions the clearing house has not netted
                netted = select(m.LifecycleStep.session_id).where(
                    m.LifecycleStep.step == "clearing", m.LifecycleStep.status == "DONE"
                )
                sessions += list(
                    db.exec(
                        select(m.MarketSession)
                        .where(
                            m.MarketSession.state == "FINAL",
                            m.MarketSession.id.not_in(netted),  # type: ignore[attr-defined]
                        )
                        .order_by(col(m.MarketSession.gate_closure))
                    )
                )
        done = 0
        for session in sessions:
            if session.state == "OPEN":
                self._relay(session)
            busy_waits = 0
            while True:
                step = NEXT_STEP.get(session.state)
                if step is None or not self._due(session, step):
                    break
                outcome = self._run_step(session.id, step)
                if outcome == BUSY and busy_waits < MAX_BUSY_WAITS:
                    # Another worker is on this session: wait for it, then carry on from
                    # whatever state it leaves, so a tick never ends with a due step undone.
                    busy_waits += 1
                    time.sleep(BUSY_WAIT_S)
                elif outcome is not True and outcome != SKIPPED:
                    break
                else:
                    done += outcome is True
                with Session(self.engine) as db:
                    refreshed = db.get(m.MarketSession, session.id)
                if refreshed is None or (outcome is True and refreshed.state == session.state):
                    break
                session = refreshed
        return done

    def _due(self, session: m.MarketSession, step: str) -> bool:
        now = self.clock.now()
        if step == "close":
            return now >= session.gate_closure
        if step == "verify":  # after the meter grace the session's terms committed
            terms = committed_terms(self.bundles, session.id)
            grace = terms.meter_grace_s if terms is not None else self.meter_grace_s
            return now >= session.delivery_end + grace
        if step == "clearing":
            blocked = self._blocked.get(session.id)
            due = blocked is None or time.monotonic() >= blocked[1]
            return self.clearing_hook is not None and due
        return True

    def _back_off(self, session_id: str, step: str, status: str) -> None:
        """After a BLOCKED clearing, when to try it again (exponential, capped)."""
        if step != "clearing":
            return
        if status != "BLOCKED":
            self._blocked.pop(session_id, None)
            return
        attempts = self._blocked.get(session_id, (0, 0.0))[0] + 1
        base, cap = self.clearing_backoff_s
        delay = min(cap, base * 2 ** min(attempts - 1, 32))
        self._blocked[session_id] = (attempts, time.monotonic() + delay)

    def _relay(self, session: m.MarketSession) -> None:
        """Relay the session's stored FSP commitments (``commitOffersBySig``) once gate closure
        is ``relay_lead_s`` away, under the session's lock; recorded as step ``relay``."""
        now = self.clock.now()
        lead = self.relay_lead_s
        if now >= session.gate_closure or (lead is not None and now < session.gate_closure - lead):
            return
        if relay.pending_count(self.engine, session.id) == 0:
            return
        lock_name = f"session:{session.id}"
        with step_lock(self.engine, lock_name, self.worker_id, ttl_s=self.lock_ttl_s) as got:
            if not got:
                return  # another worker relays; what it leaves is picked up next tick
            try:
                detail = relay.relay_pending(
                    engine=self.engine,
                    ledger=self.ledger,
                    session_id=session.id,
                    crash_point=self.crash_point,
                )
            except Exception as exc:  # e.g. gate closed on-chain first: close settles them
                self._mark(session.id, "relay", "FAILED", f"{type(exc).__name__}: {exc}")
                log.warning("session %s: relay failed: %s", session.id, exc)
                return
            self._mark(session.id, "relay", "DONE", detail)

    def _run_step(self, session_id: str, step: str) -> bool | str:
        """Run ``step`` under the session's lock.

        Returns True when the step completed, BUSY when another worker holds the lock,
        SKIPPED when another worker already moved the session on, False otherwise.
        """
        lock_name = f"session:{session_id}"
        with step_lock(self.engine, lock_name, self.worker_id, ttl_s=self.lock_ttl_s) as got:
            if not got:
                return BUSY
            with Session(self.engine) as db:
                session = db.get(m.MarketSession, session_id)
            if session is None or NEXT_STEP.get(session.state) != step:
                return SKIPPED  # another worker moved it on while we waited
            with Session(self.engine) as db:
                prev = db.get(m.LifecycleStep, (session_id, step))
            was_blocked = (prev.status, prev.detail) if prev is not None else None
            self._mark(session_id, step, "RUNNING")
            try:
                outcome: Outcome = steps.STEPS[step](self, session)
            except TooEarly as exc:
                self._mark(session_id, step, "WAITING", str(exc))
                return False
            except Exception as exc:
                self._mark(session_id, step, "FAILED", f"{type(exc).__name__}: {exc}")
                raise
            status, detail = outcome
            if status == "BLOCKED" and was_blocked != ("BLOCKED", detail):
                log.warning("session %s: %s", session_id, detail)  # once, not every tick
            self._back_off(session_id, step, status)
            self._mark(session_id, step, status, detail)
            if self.on_step is not None:
                self.on_step(session_id, f"{step}:{status}")
            return status == "DONE"

    def _mark(self, session_id: str, step: str, status: str, detail: str = "") -> None:
        with Session(self.engine) as db:
            row = db.get(m.LifecycleStep, (session_id, step)) or m.LifecycleStep(
                session_id=session_id, step=step
            )
            row.status = status
            row.detail = detail[:2000]
            row.worker_id = self.worker_id
            row.updated_at = int(time.time())
            db.add(row)
            db.commit()

    def set_state(self, session_id: str, state: str, **fields: Any) -> None:
        with Session(self.engine) as db:
            row = db.get(m.MarketSession, session_id)
            assert row is not None
            if row.state != state:  # published in the same transaction (GET /events)
                m.add_event(db, "session_state", session_id, {"state": state, "from": row.state})
            row.state = state
            for key, value in fields.items():
                setattr(row, key, value)
            db.add(row)
            db.commit()

    def chain_state(self, session_id: str) -> SessionState:
        return self.ledger.session(session_id).state


def step_history(engine: Engine, session_id: str) -> list[dict[str, Any]]:
    """The recorded steps of a session (status and detail), for operators and tests."""
    with Session(engine) as db:
        rows = db.exec(select(m.LifecycleStep).where(m.LifecycleStep.session_id == session_id))
        return [json.loads(r.model_dump_json()) for r in rows]
