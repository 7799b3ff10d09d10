"""Reads and writes of the clearing-house tables: signed revenue-sharing contracts, user
contributions, dispute evidence and resolutions, and settled periods (netting + statements).

The tables are defined in market/store/models/clearing_house.py and created by the store's
migration 0002, like every other table; nothing here creates them.  Bodies are canonical JSON
text; amounts inside are integers.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from clearing.encoding import canonical_json
from clearing.settlement.revenue import UserContribution
from market.clearing_house.period import SignedContract
from market.store.models.clearing_house import (
    contributions,
    dispute_evidence,
    netting_intents,
    period_participants,
    periods,
    resolutions,
    revenue_contracts,
)


def _upsert(engine: Engine, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        _upsert_in(conn, table, key, values)


def _upsert_in(
    conn: sa.Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert or update inside the caller's transaction; the insert runs in a savepoint, so a
    writer that raced us (IntegrityError) leaves the transaction usable for the update."""
    cond = sa.and_(*(table.c[k] == v for k, v in key.items()))
    if conn.execute(sa.select(table).where(cond)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(table.insert().values(**key, **values))
            return
        except IntegrityError:  # raced another writer: update below
            pass
    conn.execute(table.update().where(cond).values(**values))


def save_contract(engine: Engine, signed: SignedContract) -> None:
    c = signed.contract
    body = canonical_json(signed.model_dump(mode="python")).decode()
    _upsert(
        engine,
        revenue_contracts,
        {"contract_id": c.contract_id},
        {"fsp": c.fsp.lower(), "ev_user": c.ev_user.lower(), "body_json": body},
    )


def load_contracts(engine: Engine) -> list[SignedContract]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(revenue_contracts).order_by(revenue_contracts.c.contract_id))
        return [SignedContract.model_validate_json(r.body_json) for r in rows]


def save_contributions(engine: Engine, items: list[UserContribution]) -> None:
    for c in items:
        _upsert(
            engine,
            contributions,
            {"session_id": c.session_id, "fsp": c.fsp.lower(), "ev_user": c.ev_user.lower()},
            {"shifted_wh": c.shifted_wh, "discharged_wh": c.discharged_wh},
        )


def load_contributions(engine: Engine, session_id: str) -> list[UserContribution]:
    with engine.connect() as conn:
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


def save_evidence(
    engine: Engine, *, message_id: str, session_id: str, submitter: str, body: Any, at: int
) -> bool:
    """Store one evidence message; False when this message id was stored before."""
    try:
        with engine.begin() as conn:
            conn.execute(
                dispute_evidence.insert().values(
                    message_id=message_id,
                    session_id=session_id,
                    submitter=submitter.lower(),
                    body_json=canonical_json(body).decode(),
                    received_at=at,
                )
            )
        return True
    except IntegrityError:
        return False


def load_evidence(engine: Engine, session_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(dispute_evidence)
            .where(dispute_evidence.c.session_id == session_id)
            .order_by(dispute_evidence.c.received_at, dispute_evidence.c.message_id)
        )
        return [
            {
                "message_id": r.message_id,
                "submitter": r.submitter,
                "body": json.loads(r.body_json),
                "received_at": int(r.received_at),
            }
            for r in rows
        ]


def save_resolution(
    engine: Engine, *, session_id: str, corrected_root: str, bundle: bytes, tx_hash: str | None
) -> None:
    _upsert(
        engine,
        resolutions,
        {"session_id": session_id},
        {"corrected_root": corrected_root, "bundle": bundle, "tx_hash": tx_hash},
    )


def load_resolution(engine: Engine, session_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        r = conn.execute(
            sa.select(resolutions).where(resolutions.c.session_id == session_id)
        ).first()
    if r is None:
        return None
    return {
        "session_id": r.session_id,
        "corrected_root": r.corrected_root,
        "bundle": bytes(r.bundle),
        "tx_hash": r.tx_hash,
    }


def save_period(
    engine: Engine, *, period: str, period_id: str, settlement_json: str, tx_hash: str | None
) -> None:
    """The period's settlement, and who has a statement in it (``periods_of``), in one
    transaction: a crash between the two would hide the period from its parties' lists."""
    who = sorted(json.loads(settlement_json).get("statements", {}))
    with engine.begin() as conn:
        _upsert_in(
            conn,
            periods,
            {"period": period},
            {"period_id": period_id, "settlement_json": settlement_json, "tx_hash": tx_hash},
        )
        conn.execute(period_participants.delete().where(period_participants.c.period == period))
        if who:
            conn.execute(
                period_participants.insert(), [{"participant": w, "period": period} for w in who]
            )


def load_period(engine: Engine, period: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        r = conn.execute(sa.select(periods).where(periods.c.period == period)).first()
    if r is None:
        return None
    return {
        "period": r.period,
        "period_id": r.period_id,
        "settlement": json.loads(r.settlement_json),
        "tx_hash": r.tx_hash,
    }


def period_names(engine: Engine) -> list[str]:
    """The netted periods, sorted."""
    with engine.connect() as conn:
        return sorted(str(r.period) for r in conn.execute(sa.select(periods.c.period)))


def periods_of(engine: Engine, participant: str) -> list[str]:
    """The netted periods holding a statement of ``participant`` (lower-case), sorted."""
    query = sa.select(period_participants.c.period).where(
        period_participants.c.participant == participant.lower()
    )
    with engine.connect() as conn:
        return sorted(str(r.period) for r in conn.execute(query))


def load_periods(engine: Engine) -> list[dict[str, Any]]:
    names = period_names(engine)
    return [p for p in (load_period(engine, n) for n in names) if p is not None]


def netting_blocked(engine: Engine, period: str) -> str | None:
    """Why the worker's clearing step cannot net the session (its BLOCKED detail), or None:
    a statement route says so instead of a bare "not settled yet"."""
    from market.store.models import LifecycleStep

    with Session(engine) as db:
        row = db.get(LifecycleStep, (period, "clearing"))
    if row is None or row.status != "BLOCKED":
        return None
    return row.detail


def record_netting_intent(engine: Engine, period: str, from_block: int, brought_json: str) -> None:
    """Record a netting's starting point once: a second call keeps the first (a re-run)."""
    with engine.begin() as conn:
        found = conn.execute(
            sa.select(netting_intents.c.period).where(netting_intents.c.period == period)
        ).first()
        if found is None:
            conn.execute(
                netting_intents.insert().values(
                    period=period, from_block=from_block, brought_json=brought_json
                )
            )


def load_netting_intent(engine: Engine, period: str) -> tuple[int, str] | None:
    """(first block, receivables brought forward as JSON) of a period's netting, or None."""
    with engine.connect() as conn:
        r = conn.execute(
            sa.select(netting_intents).where(netting_intents.c.period == period)
        ).first()
    return (int(r.from_block), str(r.brought_json)) if r is not None else None
