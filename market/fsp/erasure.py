"""Erasing an EV user's personal data from the FSP gateway's store (GDPR art. 17).

Why pseudonymise instead of deleting everything: the FSP must keep what it paid whom for its
accounts, so each statement keeps its totals (share, delivered Wh, payout transaction) under
a pseudonym, ``erased-`` + 16 hex of HMAC-SHA256(store secret, user id). The secret is 256
random bits kept in this store only, so the pseudonym cannot be linked back without it, yet
erasing the same user again finds the same record and says so instead of repeating.

What goes: the user's token, preferences, consent records, the itemised parts of their
statements and the statement files, the charging needs (departure time, energy) last
reported on their EVSE; their EV in each session's planned fleet, their payout shares and
their claim (its address: the credit stays redeemable with the code) are renamed to the
pseudonym. What stays: the EVSE's meter readings (station and EVSE id,
no user id; settlement evidence the market already holds) and the per-EVSE nominations.
The erasure itself is recorded with the HMAC, who ran it and when: no personal data.

The market side (:func:`erase_market_charging_needs`): a market that runs the stations' CSMS
keeps the charging needs each EVSE reported (departure time, energy) in its own store; the
rows of the user's EVSE go as well. Its meter readings stay: they are settlement evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.ocpp import sink
from market.fsp import claims, ev_store, store
from market.fsp.config import EV_USER_ID
from market.fsp.statements import TOTALS

metadata = sa.MetaData()

secret_table = sa.Table(
    "fsp_privacy_secret",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("secret_hex", sa.String(64), nullable=False),
)

erasures = sa.Table(
    "fsp_privacy_erasures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject_hmac", sa.String(64), nullable=False, index=True),
    sa.Column("erased_at", sa.BigInteger, nullable=False),
    sa.Column("erased_by", sa.String(64), nullable=False),
    sa.Column("counts_json", sa.Text, nullable=False),
)


class UnknownUser(LookupError):
    """Neither the config nor the store knows the user, and no erasure of them is recorded."""

    field = "user"


@dataclass(frozen=True)
class Evse:
    """The EVSE the config assigns to the user (None: the user is no longer configured)."""

    station: str
    evse_id: int


def _secret(conn: sa.Connection) -> bytes:
    row = conn.execute(sa.select(secret_table.c.secret_hex)).first()
    if row is None:
        value = secrets.token_hex(32)
        conn.execute(secret_table.insert().values(id=1, secret_hex=value))
        return bytes.fromhex(value)
    return bytes.fromhex(str(row.secret_hex))


def _rewrite_json(
    conn: sa.Connection, table: sa.Table, column: str, rename: Callable[[Any], int]
) -> int:
    """Apply ``rename`` (which edits a row's JSON in place and counts its edits) to every
    session's row of ``table``; rows it edited are written back."""
    renamed = 0
    for row in conn.execute(sa.select(table)).all():
        doc = json.loads(getattr(row, column))
        n = rename(doc)
        if n:
            renamed += n
            conn.execute(
                table.update()
                .where(table.c.session_id == row.session_id)
                .values({column: json.dumps(doc, sort_keys=True)})
            )
    return renamed


def _renamer(user_id: str, pseudonym: str) -> tuple[Callable[[Any], int], Callable[[Any], int]]:
    """The user's EV in a planned fleet and their payout share, renamed to the pseudonym."""

    def fleet(evs: list[dict[str, Any]]) -> int:
        hits = [e for e in evs if e.get("ev_id") == user_id]
        for e in hits:
            e["ev_id"] = pseudonym
        return len(hits)

    def payout(body: dict[str, Any]) -> int:
        shares = body.get("shares") or {}
        if user_id not in shares:
            return 0
        shares[pseudonym] = shares.pop(user_id)
        return 1

    return fleet, payout


def _pseudonymise_statements(conn: sa.Connection, user_id: str, pseudonym: str) -> int:
    t = store.statements
    rows = conn.execute(sa.select(t).where(t.c.user_id == user_id)).all()
    for row in rows:
        body = json.loads(row.body_json)
        kept = {k: body[k] for k in TOTALS if k in body}
        kept.update(user_id=pseudonym, itemised=False)
        conn.execute(t.delete().where(t.c.session_id == row.session_id, t.c.user_id == user_id))
        conn.execute(
            t.insert().values(
                session_id=row.session_id, user_id=pseudonym, body_json=json.dumps(kept)
            )
        )
    return len(rows)


def _delete(conn: sa.Connection, table: sa.Table, *where: Any) -> int:
    return int(conn.execute(table.delete().where(*where)).rowcount or 0)


def erase_user(
    engine: Engine,
    user_id: str,
    *,
    evse: Evse | None,
    statements_dir: Path | None,
    by: str,
    now: int,
) -> dict[str, Any]:
    """Erase ``user_id``'s personal data in one transaction; the JSON summary of what went.

    Raises :class:`UnknownUser` when nothing about the user is configured, stored or erased.
    """
    if not EV_USER_ID.fullmatch(user_id):
        # it names a folder that is removed below: "", "." or "../x" would be another one
        raise UnknownUser(f"{user_id!r} is not an EV user id (1-64 letters, digits, '_.-')")
    metadata.create_all(engine)
    claims.metadata.create_all(engine)
    with engine.begin() as conn:
        secret = _secret(conn)
        subject = hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()
        pseudonym = "erased-" + subject[:16]
        removed = {
            "tokens": _delete(conn, store.tokens, store.tokens.c.user_id == user_id),
            "preferences": _delete(conn, store.preferences, store.preferences.c.user_id == user_id),
            "consents": _delete(conn, ev_store.consents, ev_store.consents.c.user_id == user_id),
            "charging_needs": 0
            if evse is None
            else _delete(
                conn,
                store.charging_needs,
                store.charging_needs.c.station_id == evse.station,
                store.charging_needs.c.evse_id == evse.evse_id,
            ),
        }
        fleet, payout = _renamer(user_id, pseudonym)
        pseudonymised = {
            "statements": _pseudonymise_statements(conn, user_id, pseudonym),
            "fleet_entries": _rewrite_json(conn, ev_store.fleets, "evs_json", fleet),
            "payout_shares": _rewrite_json(conn, ev_store.payouts, "body_json", payout),
            "claims": int(
                conn.execute(
                    claims.claims.update()
                    .where(claims.claims.c.user_id == user_id)
                    .values(user_id=pseudonym)
                ).rowcount
                or 0
            ),
        }
        folder = None if statements_dir is None else statements_dir / user_id
        files = sorted(folder.rglob("*.json")) if folder is not None and folder.is_dir() else []
        removed["statement_files"] = len(files)
        found = sum(removed.values()) + sum(pseudonymised.values())
        earlier = conn.execute(
            sa.select(erasures.c.erased_at, erasures.c.erased_by)
            .where(erasures.c.subject_hmac == subject)
            .order_by(erasures.c.erased_at.desc())
        ).first()
        if found == 0 and earlier is None and evse is None:
            raise UnknownUser(f"no EV user {user_id!r} in the config or the gateway's store")
        counts = {"removed": removed, "pseudonymised": pseudonymised}
        if found or earlier is None:
            conn.execute(
                erasures.insert().values(
                    subject_hmac=subject,
                    erased_at=now,
                    erased_by=by[:64],
                    counts_json=json.dumps(counts, sort_keys=True),
                )
            )
    if folder is not None and files:
        if statements_dir is None or folder.resolve().parent != statements_dir.resolve():
            raise UnknownUser(f"{user_id!r} names no folder inside {statements_dir}")
        shutil.rmtree(folder)
    left = rows_naming(engine, user_id)
    already = found == 0 and earlier is not None
    return {
        "user": user_id,
        "already_erased": already,
        "pseudonym": pseudonym,
        **counts,
        "recorded": {
            "erased_at": int(earlier.erased_at) if already and earlier else now,
            "erased_by": str(earlier.erased_by) if already and earlier else by[:64],
        },
        "still_named_in": [row.split(":", 1)[0] for row in left],
        "kept": {
            "statements": "totals only (share, delivered Wh, payout transaction) under the "
            "pseudonym: the FSP's accounts need them",
            "meter_readings": "the EVSE's station-signed readings (station and EVSE id, no "
            "user id): settlement evidence the market already holds",
            "claim": "the claim address under the pseudonym: what it holds stays redeemable "
            "with the code (flexmarket participant claim)",
        },
        "remaining": []
        if evse is None
        else [f"remove ev_users.{user_id} (and its ev_stays) from the gateway's config"],
    }


def rows_naming(engine: Engine, user_id: str) -> list[str]:
    """``table: row`` of every row in the store that still names ``user_id``: a column equal
    to it, or a JSON text holding it as a string. The erasure's own check, in its summary."""
    token = json.dumps(user_id)
    hits = []
    with engine.connect() as conn:
        for name in sorted(sa.inspect(engine).get_table_names()):
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for row in conn.execute(sa.select(table)).all():
                values = [v for v in row if isinstance(v, str)]
                if any(v == user_id or token in v for v in values):
                    hits.append(f"{name}: {tuple(row)}")
    return hits


def erase_market_charging_needs(engine: Engine, evse: Evse) -> int:
    """Delete the market store's ``ev_charging_needs`` of the user's EVSE; how many went."""
    t = sink.ev_charging_needs
    with engine.begin() as conn:
        result = conn.execute(
            t.delete().where(t.c.station_id == evse.station, t.c.evse_id == evse.evse_id)
        )
    return int(result.rowcount or 0)
