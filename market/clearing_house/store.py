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

from clearing.commitments import EMPTY_CONTRACT_SET, contract_set_root
from clearing.encoding import canonical_json, hex32
from market.clearing_house.period import SignedContract
from market.errors import Conflict
from market.store.models.clearing_house import (
    contract_sets,
    contract_versions,
    dispute_evidence,
    netting_intents,
    period_participants,
    periods,
    resolutions,
    revenue_contracts,
)


def upsert(engine: Engine, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        upsert_in(conn, table, key, values)


def upsert_in(
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


def save_contract(engine: Engine, signed: SignedContract, *, attempts: int = 3) -> None:
    """Store (or replace, by id) a contract; keep its version and the set the FSP's contracts
    now form (what a commitment of the FSP may bind). Conflict for an id another FSP holds.
    Two posts of one FSP at once race for the next version number: the loser retries."""
    for attempt in range(attempts):
        try:
            _save_contract(engine, signed)
            return
        except IntegrityError:
            if attempt == attempts - 1:
                raise Conflict(
                    "another contract of this FSP was stored at the same moment: post again",
                    field="body.contract.contract_id",
                ) from None


def _save_contract(engine: Engine, signed: SignedContract) -> None:
    c = signed.contract
    fsp = c.fsp.lower()
    body = canonical_json(signed.model_dump(mode="python")).decode()
    with engine.begin() as conn:
        holder = conn.execute(
            sa.select(revenue_contracts.c.fsp).where(
                revenue_contracts.c.contract_id == c.contract_id
            )
        ).scalar()
        if holder is not None and holder != fsp:
            raise Conflict(
                f"contract id {c.contract_id} is another FSP's: choose a new id",
                field="body.contract.contract_id",
            )
        upsert_in(
            conn,
            revenue_contracts,
            {"contract_id": c.contract_id},
            {"fsp": fsp, "ev_user": c.ev_user.lower(), "body_json": body},
        )
        mine = contract_versions.c.fsp == fsp
        if _latest_body(conn, fsp, c.contract_id) == body:
            return  # the same contract again: the set is unchanged
        seq = (conn.execute(sa.select(sa.func.max(contract_versions.c.seq)).where(mine)).scalar()
               or 0) + 1  # fmt: skip
        conn.execute(
            contract_versions.insert().values(
                fsp=fsp, seq=seq, contract_id=c.contract_id, body_json=body
            )
        )
        root = hex32(contract_set_root(s.contract for s in _set_upto(conn, fsp, seq)))
        key = sa.and_(contract_sets.c.fsp == fsp, contract_sets.c.set_root == root)
        if conn.execute(sa.select(contract_sets).where(key)).first() is None:
            conn.execute(contract_sets.insert().values(fsp=fsp, set_root=root, upto_seq=seq))


def contract_unchanged(engine: Engine, signed: SignedContract) -> bool:
    """Whether the FSP's latest version of this contract id is exactly ``signed``: a re-post
    (a restarted gateway posts its kept contracts again) that changes nothing."""
    c = signed.contract
    body = canonical_json(signed.model_dump(mode="python")).decode()
    with engine.connect() as conn:
        return _latest_body(conn, c.fsp.lower(), c.contract_id) == body


def _latest_body(conn: sa.Connection, fsp: str, contract_id: str) -> str | None:
    """The canonical JSON of the FSP's latest version of ``contract_id``, if any."""
    last = conn.execute(
        sa.select(contract_versions.c.body_json)
        .where(
            sa.and_(contract_versions.c.fsp == fsp, contract_versions.c.contract_id == contract_id)
        )
        .order_by(contract_versions.c.seq.desc())
    ).first()
    return None if last is None else str(last.body_json)


def current_contract_set(engine: Engine, fsp: str) -> list[SignedContract]:
    """The set the FSP's contracts form now (the latest version of each id): what its next
    commitment binds."""
    with engine.connect() as conn:
        seq = conn.execute(
            sa.select(sa.func.max(contract_versions.c.seq)).where(
                contract_versions.c.fsp == fsp.lower()
            )
        ).scalar()
        return [] if seq is None else _set_upto(conn, fsp.lower(), int(seq))


def _set_upto(conn: sa.Connection, fsp: str, seq: int) -> list[SignedContract]:
    """The FSP's contracts after its first ``seq`` versions (the last version of each id)."""
    rows = conn.execute(
        sa.select(contract_versions.c.contract_id, contract_versions.c.body_json)
        .where(sa.and_(contract_versions.c.fsp == fsp, contract_versions.c.seq <= seq))
        .order_by(contract_versions.c.seq)
    )
    latest = {r.contract_id: r.body_json for r in rows}
    return [SignedContract.model_validate_json(latest[k]) for k in sorted(latest)]


def load_contracts(engine: Engine) -> list[SignedContract]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(revenue_contracts).order_by(revenue_contracts.c.contract_id))
        return [SignedContract.model_validate_json(r.body_json) for r in rows]


def contract_set_roots(engine: Engine, fsp: str) -> list[bytes]:
    """The roots of every set the FSP's contracts have formed, the empty set's first, then the
    newest first (the set an FSP commits is most often its latest): what its commitment may
    have folded into its portfolio hash."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(contract_sets.c.set_root)
            .where(contract_sets.c.fsp == fsp.lower())
            .order_by(contract_sets.c.upto_seq.desc(), contract_sets.c.set_root)
        )
        found = [bytes.fromhex(r.set_root.removeprefix("0x")) for r in rows]
    return [EMPTY_CONTRACT_SET, *(r for r in found if r != EMPTY_CONTRACT_SET)]


def load_contract_set(engine: Engine, fsp: str, root: bytes) -> list[SignedContract] | None:
    """The FSP's signed contracts forming the set ``root`` (none for the empty set); None when
    the FSP's contracts never formed it."""
    if root == EMPTY_CONTRACT_SET:
        return []
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(contract_sets.c.upto_seq).where(
                sa.and_(contract_sets.c.fsp == fsp.lower(), contract_sets.c.set_root == hex32(root))
            )
        ).first()
        return None if row is None else _set_upto(conn, fsp.lower(), int(row.upto_seq))


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
    upsert(
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
        upsert_in(
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
