"""The DSO's request drafts: the gateway drafts (kind ``request_draft``), the DSO decides
(kind ``request_draft_decision``), and only the DSO that drafted reads them.

Why a decision is its own signed message: the approval is the DSO's word that this budget
may leave, recorded before the page escrows; a second decision, a decision by another
party, or one on a draft whose session has passed its gate is refused with the field named.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from clearing.messages import FlexRequest
from market.core.handlers import KindHandlers
from market.core.kinds import Handled
from market.core.rows import get_row
from market.errors import (
    Conflict,
    Forbidden,
    GateClosed,
    MessageExpired,
    NotFound,
    WrongSessionState,
)
from market.store import models as m
from market.store.models import RequestDraftDecisionCreate, RequestDraftPublic
from market.store.models.request_draft import RequestDraftCreate


class DraftHandlers(KindHandlers):
    """Mixed into MarketCore: the two draft kinds and the DSO's reads of its drafts."""

    def _request_draft(
        self,
        conn: Connection,
        *,
        body: RequestDraftCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        """Checked as the request itself will be, so an approved draft can be posted."""
        req = body.request
        session = get_row(conn, m.MarketSession, req.session_id)
        if session is None:
            raise NotFound(f"no session {req.session_id}", field="body.request.session_id")
        if session.state != "OPEN" or now >= session.gate_closure:
            raise WrongSessionState(
                f"session {req.session_id} is {session.state} (gate closure "
                f"{session.gate_closure}); drafts are for OPEN sessions before the gate",
                field="body.request.session_id",
            )
        self._known_point(conn, req.congestion_point, "body.request.congestion_point")
        self._isps_in_session(session, req.isps, "body.request.isps")
        self._request_fits(conn, req, "body.request.congestion_point", "body.request.direction")
        if req.expires_at <= now:
            raise MessageExpired(
                f"the drafted request expired at {req.expires_at}", field="body.request.expires_at"
            )
        if get_row(conn, m.FlexRequestRow, req.request_id) is not None:
            raise Conflict(
                f"request {req.request_id} is already posted", field="body.request.request_id"
            )
        values = {
            "id": req.request_id,
            "session_id": req.session_id,
            "dso": signer,
            "request_json": req.to_canonical().decode(),
            "reason": body.reason,
            "forecast_json": json.dumps([f.model_dump() for f in body.forecast]),
            "created_at": now,
        }
        row = m.RequestDraft.model_validate(values)
        return [(m.RequestDraft, values)], draft_public(row, None, requested=False, now=now)

    def _request_draft_decision(
        self,
        conn: Connection,
        *,
        body: RequestDraftDecisionCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        draft = get_row(conn, m.RequestDraft, body.draft_id)
        if draft is None:
            raise NotFound(f"no request draft {body.draft_id}", field="body.draft_id")
        if draft.dso != signer:
            raise Forbidden(
                f"draft {body.draft_id} belongs to {draft.dso}, not {signer}",
                field="body.draft_id",
            )
        if get_row(conn, m.RequestDraftDecision, body.draft_id) is not None:
            raise Conflict(f"draft {body.draft_id} is already decided", field="body.draft_id")
        session = get_row(conn, m.MarketSession, draft.session_id)
        if session is None or session.state != "OPEN":
            state = "gone" if session is None else session.state
            raise WrongSessionState(
                f"session {draft.session_id} is {state}; drafts are decided while it is OPEN",
                field="body.draft_id",
            )
        expires_at = int(json.loads(draft.request_json)["expires_at"])
        if now >= min(expires_at, session.gate_closure):
            raise GateClosed(
                f"draft {body.draft_id} expired at {min(expires_at, session.gate_closure)}",
                field="body.draft_id",
            )
        if body.decision == "approve":  # still postable now: approving leads to an escrow
            req = FlexRequest.model_validate_json(draft.request_json)
            self._request_fits(conn, req, "body.draft_id", "body.draft_id")
        values = {
            "draft_id": body.draft_id,
            "dso": signer,
            "decision": body.decision,
            "note": body.note,
            "decided_at": now,
        }
        decision = m.RequestDraftDecision.model_validate(values)
        row = m.RequestDraft.model_validate(draft._asdict())
        return [(m.RequestDraftDecision, values)], draft_public(
            row, decision, requested=False, now=now
        )

    # ---- reads ------------------------------------------------------------------------------

    def drafts_of(self, reader: str, *, session_id: str | None, now: int) -> list[dict[str, Any]]:
        """The reader's own drafts: a DSO's drafts are its business alone, and any other
        signed-in party simply has none (an empty list, so a page need not know roles)."""
        with Session(self.engine) as db:
            q = select(m.RequestDraft).where(m.RequestDraft.dso == reader)
            if session_id is not None:
                q = q.where(m.RequestDraft.session_id == session_id)
            rows = list(db.exec(q.order_by(col(m.RequestDraft.created_at), col(m.RequestDraft.id))))
            return [self._draft_public(db, r, now) for r in rows]

    def draft_of(self, reader: str, draft_id: str, *, now: int) -> dict[str, Any]:
        with Session(self.engine) as db:
            row = db.get(m.RequestDraft, draft_id)
            if row is None:
                raise NotFound(f"no request draft {draft_id}", field="draft_id")
            if row.dso != reader:
                raise Forbidden(f"draft {draft_id} is not {reader}'s", field="draft_id")
            return self._draft_public(db, row, now)

    @staticmethod
    def _draft_public(db: Session, row: m.RequestDraft, now: int) -> dict[str, Any]:
        decision = db.get(m.RequestDraftDecision, row.id)
        requested = db.get(m.FlexRequestRow, row.id) is not None
        session = db.get(m.MarketSession, row.session_id)
        gate = session.gate_closure if session is not None else 0
        open_ = session is not None and session.state == "OPEN"
        return draft_public(
            row, decision, requested=requested, now=now, open_until=gate if open_ else 0
        )


def draft_public(
    row: m.RequestDraft,
    decision: m.RequestDraftDecision | None,
    *,
    requested: bool,
    now: int,
    open_until: int | None = None,
) -> dict[str, Any]:
    """The public shape of a draft; ``open_until`` is when its session stops taking it
    (None: not looked up, as when the draft or decision is being written)."""
    request = json.loads(row.request_json)
    status: str
    closes_at = min(int(request["expires_at"]), open_until if open_until is not None else now + 1)
    if requested:
        status = "requested"
    elif decision is not None and decision.decision == "reject":
        status = "rejected"
    elif now >= closes_at:  # approved but never posted too: its escrow would be refused now
        status = "expired"
    else:
        status = "approved" if decision is not None else "pending"
    return RequestDraftPublic(
        draft_id=row.id,
        session_id=row.session_id,
        dso=row.dso,
        status=status,  # type: ignore[arg-type]
        request=request,
        reason=row.reason,
        forecast=json.loads(row.forecast_json),
        created_at=row.created_at,
        decided_at=decision.decided_at if decision is not None else None,
        note=decision.note if decision is not None else "",
    ).model_dump(mode="json")
