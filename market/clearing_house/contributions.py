"""Reads and writes of the FSPs' user contributions (the rows and each FSP's signed envelope)
and the snapshot a session's netting takes of them.

A post and the snapshot take one lock per session, so a post is either in the netting or
refused (409 naming ``body.session_id``), never accepted and left out; a netting re-run after
a crash nets the frozen snapshot, so its write-once bundle comes out the same.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clearing.encoding import canonical_json
from clearing.settlement.revenue import UserContribution
from market.clearing_house.store import upsert, upsert_in
from market.errors import Conflict
from market.lifecycle.locks import transaction_lock
from market.store.models.clearing_house import (
    contribution_envelopes,
    contributions,
    netting_inputs,
    netting_intents,
    periods,
)


def save_contributions(engine: Engine, items: list[UserContribution]) -> None:
    """Rows without an envelope (tests and tools that hold no FSP key; the audit then names
    them unsigned): upserted one by one."""
    for c in items:
        upsert(
            engine,
            contributions,
            {"session_id": c.session_id, "fsp": c.fsp.lower(), "ev_user": c.ev_user.lower()},
            {"shifted_wh": c.shifted_wh, "discharged_wh": c.discharged_wh},
        )


def _envelope_key(nonce: int, expiry: int, message_id: str) -> tuple[int, int, str]:
    """The order of an FSP's posts for one session: the greatest wins, whatever the arrival
    order, so the same posts always leave the same envelope."""
    return (nonce, expiry, message_id)


def _rows(rows: list[UserContribution]) -> list[tuple[str, int, int]]:
    return sorted((c.ev_user.lower(), c.shifted_wh, c.discharged_wh) for c in rows)


def _kept_rows(conn: sa.Connection, session_id: str, fsp: str) -> list[tuple[str, int, int]]:
    found = conn.execute(
        sa.select(
            contributions.c.ev_user, contributions.c.shifted_wh, contributions.c.discharged_wh
        ).where(sa.and_(contributions.c.session_id == session_id, contributions.c.fsp == fsp))
    ).all()
    return sorted((str(r[0]), int(r[1]), int(r[2])) for r in found)


def lock_contributions(conn: sa.Connection, session_id: str) -> None:
    """Serialise a session's contribution posts with its netting taking their snapshot, so no
    post is accepted after the snapshot and left out of it. PostgreSQL: a transaction-level
    advisory lock; SQLite serialises its writers itself (a post racing the snapshot fails
    there, never passes unseen)."""
    transaction_lock(conn, f"contributions:{session_id}")


def _netting_started(conn: sa.Connection, session_id: str) -> bool:
    for column in (netting_inputs.c.period, netting_intents.c.period, periods.c.period):
        if conn.execute(sa.select(column).where(column == session_id)).first() is not None:
            return True
    return False


def save_signed_contributions(
    engine: Engine,
    *,
    session_id: str,
    fsp: str,
    envelope: dict[str, Any],
    rows: list[UserContribution],
    nonce: int,
) -> bool:
    """Keep the FSP's signed envelope and make its rows the FSP's whole contribution to the
    session (a re-post replaces, never merges). True when stored; False when this message, or
    one with the same rows, is kept already (the kept signature stays). Conflict for other
    rows in a post older than the kept one."""
    fsp = fsp.lower()
    expiry, message_id = int(envelope["expiry"]), str(envelope["message_id"])
    key = {"session_id": session_id, "fsp": fsp}
    cond = sa.and_(
        contribution_envelopes.c.session_id == session_id, contribution_envelopes.c.fsp == fsp
    )
    with engine.begin() as conn:
        lock_contributions(conn, session_id)
        kept = conn.execute(sa.select(contribution_envelopes).where(cond)).first()
        if kept is not None and (
            kept.message_id == message_id or _kept_rows(conn, session_id, fsp) == _rows(rows)
        ):
            return False  # the same message, or the same rows re-signed (a restarted FSP)
        if _netting_started(conn, session_id):  # its bundle is (being) published: say so
            raise Conflict(
                f"session {session_id} is netted already (or its netting has begun): "
                "contributions can no longer change",
                field="body.session_id",
            )
        if kept is not None and _envelope_key(
            int(kept.nonce), int(kept.expiry), kept.message_id
        ) > _envelope_key(nonce, expiry, message_id):
            raise Conflict(
                f"the kept contributions of {fsp} for session {session_id} have nonce "
                f"{kept.nonce} and expiry {kept.expiry}: re-post with a greater nonce to "
                "replace them",
                field="body.nonce",
            )
        upsert_in(
            conn,
            contribution_envelopes,
            key,
            {
                "nonce": nonce,
                "expiry": expiry,
                "message_id": message_id,
                "envelope_json": canonical_json(envelope).decode(),
            },
        )
        conn.execute(
            contributions.delete().where(
                sa.and_(contributions.c.session_id == session_id, contributions.c.fsp == fsp)
            )
        )
        if rows:
            conn.execute(
                contributions.insert(),
                [
                    {
                        "session_id": session_id,
                        "fsp": fsp,
                        "ev_user": c.ev_user.lower(),
                        "shifted_wh": c.shifted_wh,
                        "discharged_wh": c.discharged_wh,
                    }
                    for c in rows
                ],
            )
    return True


def load_contribution_envelopes(engine: Engine, session_id: str) -> list[dict[str, Any]]:
    """The kept signed envelopes of a session's contributions, by FSP."""
    with engine.connect() as conn:
        return _envelopes_in(conn, session_id)


def _envelopes_in(conn: sa.Connection, session_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(contribution_envelopes.c.envelope_json)
        .where(contribution_envelopes.c.session_id == session_id)
        .order_by(contribution_envelopes.c.fsp)
    )
    return [json.loads(r.envelope_json) for r in rows]


def load_contributions(engine: Engine, session_id: str) -> list[UserContribution]:
    with engine.connect() as conn:
        return _contributions_in(conn, session_id)


def _contributions_in(conn: sa.Connection, session_id: str) -> list[UserContribution]:
    rows = conn.execute(
        sa.select(contributions)
        .where(contributions.c.session_id == session_id)
        .order_by(contributions.c.fsp, contributions.c.ev_user)
    )
    return [
        UserContribution(
            session_id=r.session_id,
            fsp=r.fsp,
            ev_user=r.ev_user,
            shifted_wh=int(r.shifted_wh),
            discharged_wh=int(r.discharged_wh),
        )
        for r in rows
    ]


class NettingInputs(NamedTuple):
    """What a session's netting nets: the contribution rows and the FSPs' signed envelopes."""

    contributions: list[UserContribution]
    envelopes: list[dict[str, Any]]


def netting_inputs_of(engine: Engine, session_id: str) -> NettingInputs:
    """The inputs a netting froze (``freeze_netting_inputs``), else the current ones, rows and
    envelopes read together under the session's lock (never a new envelope with old rows)."""
    with engine.begin() as conn:
        lock_contributions(conn, session_id)
        return _frozen_in(conn, session_id) or _current_in(conn, session_id)


def _current_in(conn: sa.Connection, session_id: str) -> NettingInputs:
    return NettingInputs(_contributions_in(conn, session_id), _envelopes_in(conn, session_id))


def _frozen_in(conn: sa.Connection, session_id: str) -> NettingInputs | None:
    row = conn.execute(
        sa.select(netting_inputs).where(netting_inputs.c.period == session_id)
    ).first()
    if row is None:
        return None
    return NettingInputs(
        [UserContribution.model_validate(r) for r in json.loads(row.contributions_json)],
        json.loads(row.envelopes_json),
    )


def freeze_netting_inputs(engine: Engine, session_id: str, used: NettingInputs) -> bool:
    """Fix ``used`` as the session's netting inputs before its bundle is published: from then
    on a contributions post is 409 and a re-run (after a crash) nets the same rows. False
    when a post changed the session's inputs since ``used`` was read (net again)."""
    with engine.begin() as conn:
        lock_contributions(conn, session_id)
        frozen = _frozen_in(conn, session_id)
        if frozen is not None:
            return frozen == used
        if _current_in(conn, session_id) != used:
            return False
        conn.execute(
            netting_inputs.insert().values(
                period=session_id,
                contributions_json=json.dumps([c.model_dump() for c in used.contributions]),
                envelopes_json=json.dumps(used.envelopes),
            )
        )
    return True
