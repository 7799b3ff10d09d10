"""The market's event log: session state changes and orders, in commit order, for ``GET /events``.

Why a table: the API may run as several processes and the worker as another; a row written in
the same transaction as the state change it reports is what every process can stream, and its
increasing id is what a client resumes from (``Last-Event-ID``).
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from sqlalchemy import Column, Text
from sqlmodel import Field as SqlField
from sqlmodel import Session, SQLModel

from market.store.models.fields import big

EventKind = Literal["session_state", "order", "dispatch_ack", "station_status"]
#: the session id of a market-wide event (``station_status``): every session's followers get it
MARKET_WIDE = ""


class MarketEvent(SQLModel, table=True):
    """One published event; ``fsp`` is set for events that concern one FSP only (orders)."""

    __tablename__ = "market_event"

    id: int | None = SqlField(default=None, primary_key=True)
    session_id: str = SqlField(index=True, max_length=36)
    kind: str = SqlField(max_length=32)
    fsp: str | None = SqlField(default=None, max_length=42)
    data_json: str = SqlField(sa_column=Column(Text, nullable=False))
    created_at: int = SqlField(default=0, sa_column=big(nullable=False))


def event_values(
    kind: EventKind, session_id: str, data: dict[str, Any], *, fsp: str | None = None
) -> dict[str, Any]:
    """Column values of one event row (for inserts inside a caller's transaction)."""
    return {
        "session_id": session_id,
        "kind": kind,
        "fsp": fsp.lower() if fsp else None,
        "data_json": json.dumps({"session_id": session_id, **data}, sort_keys=True),
        "created_at": int(time.time()),
    }


def add_event(
    db: Session,
    kind: EventKind,
    session_id: str,
    data: dict[str, Any],
    *,
    fsp: str | None = None,
) -> None:
    """Add an event to ``db``'s transaction: it commits (or not) with the change it reports."""
    db.add(MarketEvent(**event_values(kind, session_id, data, fsp=fsp)))
