"""The gateway's queue of revenue sharing still to post (issue 19), kept in its own database.

Why persisted: the contributions come from the session's dispatch plan, which a restarted
gateway never computes again (the schedules are stored, the plan is not). Kept in memory, a
gateway killed between dispatch and the market taking the sharing never posted that session's
contributions, and the netting paid its EV users nothing. Each row holds the contributions
as they will be posted (canonical JSON), so a restart (also after SIGKILL) posts exactly what
the first process would have; the market takes a repeated post idempotently (an upsert).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clearing.encoding import canonical_json
from clearing.settlement.revenue import UserContribution

__all__ = ["SharingQueue"]

metadata = sa.MetaData()

# shared_at: NULL while pending; set once the market took the sharing (kept as a record)
queue = sa.Table(
    "fsp_revenue_sharing",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("contributions_json", sa.Text, nullable=False),
    sa.Column("queued_at", sa.BigInteger, nullable=False),
    sa.Column("shared_at", sa.BigInteger, nullable=True),
)


class SharingQueue:
    """Sessions whose contributions and payee naming the market has not taken yet."""

    def __init__(self, engine: Engine, *, now: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.now = now
        metadata.create_all(engine)

    def put(self, session_id: str, rows: Sequence[UserContribution]) -> bool:
        """Queue a session once (a second put keeps the first rows); True when new."""
        body = canonical_json([r.model_dump(mode="json") for r in rows]).decode()
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(queue.c.session_id).where(queue.c.session_id == session_id)
            ).first()
            if found is not None:
                return False
            conn.execute(
                queue.insert().values(
                    session_id=session_id,
                    contributions_json=body,
                    queued_at=int(self.now()),
                    shared_at=None,
                )
            )
        return True

    def pending(self) -> dict[str, list[UserContribution]]:
        """Each queued session not shared yet, with its contributions (sorted by session)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(queue.c.session_id, queue.c.contributions_json)
                .where(queue.c.shared_at.is_(None))
                .order_by(queue.c.session_id)
            ).all()
        return {
            sid: [UserContribution.model_validate(r) for r in json.loads(body)]
            for sid, body in rows
        }

    def mark_shared(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                queue.update()
                .where(queue.c.session_id == session_id)
                .values(shared_at=int(self.now()))
            )
