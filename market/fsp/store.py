"""The FSP gateway's own state (its database, never the market's): what it has done, so a
restarted gateway neither bids, dispatches, acknowledges nor relays twice and loses nothing.

Why an outbox: a station deletes a reading once the CSMS acknowledged it, so the gateway
writes every reading here (committed) *before* the acknowledgement goes back; the relay posts
pending rows and marks them sent. A crash between the POST and the mark re-posts the row after
the restart, which the market answers idempotently (the same reading is stored once), so
nothing is lost and nothing is stored twice. ``UNIQUE(station, evse, timestamp)`` makes a
station's re-sent reading (after a reconnect) a no-op here too.

Tables are made by this module's own ``metadata.create_all`` (SQLite file or PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.ocpp.sink import MeterReading

metadata = sa.MetaData()

sessions = sa.Table(
    "fsp_sessions",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# status: planned (offers chosen, nothing sent) -> committed (root on-chain) -> posted; none
offers = sa.Table(
    "fsp_offers",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("n_offers", sa.Integer, nullable=False),
    sa.Column("root", sa.String(66), nullable=True),
    sa.Column("offers_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

orders = sa.Table(
    "fsp_orders",
    metadata,
    sa.Column("order_id", sa.String(36), primary_key=True),
    sa.Column("session_id", sa.String(36), nullable=False, index=True),
    sa.Column("body_json", sa.Text, nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("acked", sa.Boolean, nullable=False, default=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
)

dispatches = sa.Table(
    "fsp_dispatches",
    metadata,
    sa.Column("order_id", sa.String(36), primary_key=True),
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(36), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("sent_at", sa.BigInteger, nullable=False),
)

plans = sa.Table(
    "fsp_plans",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("schedules_json", sa.Text, nullable=False),
    sa.Column("planned_at", sa.BigInteger, nullable=False),
)

# status: pending -> sent | refused (the market refused it: reason kept) | unsigned (never sent)
# | outside (no session's delivery window covers it: kept, never relayed)
outbox = sa.Table(
    "fsp_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("evse_id", sa.Integer, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("import_wh", sa.BigInteger, nullable=False),
    sa.Column("reading_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("sent_at", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("station_id", "evse_id", "timestamp", name="uq_fsp_outbox_reading"),
)

charging_needs = sa.Table(
    "fsp_charging_needs",
    metadata,
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("needs_json", sa.Text, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
)

withdrawals = sa.Table(
    "fsp_withdrawals",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("amount_units", sa.BigInteger, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
)

preferences = sa.Table(
    "fsp_preferences",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("prefs_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

tokens = sa.Table(
    "fsp_ev_tokens",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
)

statements = sa.Table(
    "fsp_statements",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("body_json", sa.Text, nullable=False),
)


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token: tokens are 256-bit random, so no salt or KDF is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OutboxRow:
    """A reading waiting to be relayed (or already relayed)."""

    id: int
    reading: MeterReading
    status: str


class GatewayStore:
    """Reads and writes of the gateway's tables; every write is one committed transaction."""

    def __init__(self, url: str | Engine, *, now: Callable[[], float] = time.time) -> None:
        self.engine = sa.create_engine(url) if isinstance(url, str) else url
        if self.engine.dialect.name == "sqlite":
            with self.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        metadata.create_all(self.engine)
        self.now = now

    def _t(self) -> int:
        return int(self.now())

    def _replace(self, table: sa.Table, **values: Any) -> None:
        """Write one row by its primary key, replacing any row with that key (one commit)."""
        key = [c == values[c.name] for c in table.primary_key.columns]
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(*key))
            conn.execute(table.insert().values(**values))

    # ---- sessions and offers ------------------------------------------------------------------

    def see_session(self, session_id: str, state: str) -> bool:
        """Record a session's state; True when it changed (or is new)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(sessions.c.state).where(sessions.c.session_id == session_id)
            ).first()
            if row is not None and row.state == state:
                return False
            if row is None:
                conn.execute(
                    sessions.insert().values(
                        session_id=session_id, state=state, updated_at=self._t()
                    )
                )
            else:
                conn.execute(
                    sessions.update()
                    .where(sessions.c.session_id == session_id)
                    .values(state=state, updated_at=self._t())
                )
            return True

    def state_since(self, session_id: str, state: str) -> int | None:
        """Since when the session is in ``state`` (as first seen here), else None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sessions.c.updated_at).where(
                    sessions.c.session_id == session_id, sessions.c.state == state
                )
            ).first()
        return int(row.updated_at) if row is not None else None

    def session_states(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.session_id: r.state for r in conn.execute(sa.select(sessions))}

    def offer_record(self, session_id: str) -> dict[str, Any] | None:
        """The session's bid: status, root and the offers (JSON bodies), if any was planned."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(offers).where(offers.c.session_id == session_id)).first()
        if row is None:
            return None
        return {
            "status": row.status,
            "root": row.root,
            "n_offers": row.n_offers,
            "offers": json.loads(row.offers_json),
        }

    def set_offers(
        self, session_id: str, status: str, bodies: list[dict[str, Any]], root: str | None = None
    ) -> None:
        """Write the session's bid at ``status`` (planned, committed, posted, none)."""
        values = {
            "status": status,
            "n_offers": len(bodies),
            "root": root,
            "offers_json": json.dumps(bodies, sort_keys=True),
            "updated_at": self._t(),
        }
        with self.engine.begin() as conn:
            done = conn.execute(
                offers.update().where(offers.c.session_id == session_id).values(**values)
            )
            if done.rowcount == 0:
                conn.execute(offers.insert().values(session_id=session_id, **values))

    # ---- orders and dispatch ------------------------------------------------------------------

    def add_order(
        self,
        order_id: str,
        session_id: str,
        body: dict[str, Any],
        *,
        verified: bool,
        reason: str = "",
    ) -> bool:
        """Keep a received order with its verification; False if it was kept before."""
        with self.engine.begin() as conn:
            if conn.execute(
                sa.select(orders.c.order_id).where(orders.c.order_id == order_id)
            ).first():
                return False
            conn.execute(
                orders.insert().values(
                    order_id=order_id,
                    session_id=session_id,
                    body_json=json.dumps(body, sort_keys=True),
                    verified=verified,
                    reason=reason,
                    acked=False,
                    received_at=self._t(),
                )
            )
            return True

    def orders_of(self, session_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(orders)
                .where(orders.c.session_id == session_id)
                .order_by(orders.c.order_id)
            ).all()
        return [
            {
                "order_id": r.order_id,
                "body": json.loads(r.body_json),
                "verified": bool(r.verified),
                "reason": r.reason,
                "acked": bool(r.acked),
            }
            for r in rows
        ]

    def mark_acked(self, order_ids: list[str]) -> None:
        with self.engine.begin() as conn:
            conn.execute(orders.update().where(orders.c.order_id.in_(order_ids)).values(acked=True))

    def dispatched(self, session_id: str) -> dict[tuple[str, str], str]:
        """(order, station) -> dispatch state, of one session."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(dispatches).where(dispatches.c.session_id == session_id))
            return {(r.order_id, r.station_id): r.state for r in rows}

    def record_dispatch(
        self, session_id: str, order_id: str, station_id: str, state: str, detail: str
    ) -> None:
        self._replace(
            dispatches,
            order_id=order_id,
            station_id=station_id,
            session_id=session_id,
            state=state,
            detail=detail[:500],
            sent_at=self._t(),
        )

    def plan(self, session_id: str) -> list[dict[str, Any]] | None:
        """The schedules first dispatched for a session (re-sent as they were after a restart)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(plans.c.schedules_json).where(plans.c.session_id == session_id)
            ).first()
        return None if row is None else list(json.loads(row.schedules_json))

    def set_plan(self, session_id: str, schedules: list[dict[str, Any]]) -> None:
        self._replace(
            plans,
            session_id=session_id,
            schedules_json=json.dumps(schedules, sort_keys=True),
            planned_at=self._t(),
        )

    # ---- readings outbox ----------------------------------------------------------------------

    def put_reading(self, reading: MeterReading) -> bool:
        """Write one reading to the outbox, committed before returning (the CSMS acknowledges
        it to the station only after this); False for a reading already there."""
        status = (
            "pending"
            if reading.signature and reading.signed_data and reading.public_key
            else "unsigned"
        )
        values = {
            "station_id": reading.station_id,
            "evse_id": reading.evse_id,
            "timestamp": reading.timestamp,
            "import_wh": reading.import_wh,
            "reading_json": json.dumps(asdict(reading), sort_keys=True),
            "status": status,
            "reason": "" if status == "pending" else "the station did not sign it",
            "received_at": reading.received_at,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(outbox.insert().values(**values))
        except sa.exc.IntegrityError:
            return False
        return True

    def pending(self, limit: int = 500) -> list[OutboxRow]:
        """Readings not yet relayed, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.id, outbox.c.reading_json, outbox.c.status)
                .where(outbox.c.status == "pending")
                .order_by(outbox.c.id)
                .limit(limit)
            ).all()
        return [OutboxRow(r.id, MeterReading(**json.loads(r.reading_json)), r.status) for r in rows]

    def mark_reading(self, row_id: int, status: str, reason: str = "") -> None:
        """``sent`` once the market stored (or had stored) it; ``refused`` with its reason."""
        with self.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == row_id)
                .values(status=status, reason=reason[:1000], sent_at=self._t())
            )

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
            )
            return {str(s): int(n) for s, n in rows}

    def last_readings(self) -> dict[str, int]:
        """Per station, the timestamp of its latest reading received."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.station_id, sa.func.max(outbox.c.timestamp)).group_by(
                    outbox.c.station_id
                )
            )
            return {str(s): int(t) for s, t in rows}

    def readings(self, station_id: str, evse_id: int) -> list[MeterReading]:
        """One EVSE's readings in the outbox (any status), by time."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.reading_json)
                .where(outbox.c.station_id == station_id, outbox.c.evse_id == evse_id)
                .order_by(outbox.c.timestamp)
            ).all()
        return [MeterReading(**json.loads(r.reading_json)) for r in rows]

    def last_reading(self, station_id: str, evse_id: int) -> MeterReading | None:
        """One EVSE's latest reading in the outbox (what a restarted CSMS knew last)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(outbox.c.reading_json)
                .where(outbox.c.station_id == station_id, outbox.c.evse_id == evse_id)
                .order_by(outbox.c.timestamp.desc())
                .limit(1)
            ).first()
        return None if row is None else MeterReading(**json.loads(row.reading_json))

    def put_charging_needs(self, station_id: str, evse_id: int, needs: dict[str, Any]) -> None:
        """The latest NotifyEVChargingNeeds of an EVSE (departure, energy) replaces the last."""
        self._replace(
            charging_needs,
            station_id=station_id,
            evse_id=evse_id,
            needs_json=json.dumps(needs, sort_keys=True),
            received_at=self._t(),
        )

    def charging_needs(self) -> dict[tuple[str, int], dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(charging_needs)).all()
        return {(r.station_id, r.evse_id): json.loads(r.needs_json) for r in rows}

    # ---- money --------------------------------------------------------------------------------

    def withdrawn(self, session_id: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(withdrawals.c.amount_units).where(withdrawals.c.session_id == session_id)
            ).first()
        return None if row is None else int(row.amount_units)

    def record_withdrawal(self, session_id: str, amount_units: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                withdrawals.insert().values(
                    session_id=session_id, amount_units=amount_units, at=self._t()
                )
            )

    def put_statement(self, session_id: str, user_id: str, body: dict[str, Any]) -> None:
        self._replace(
            statements, session_id=session_id, user_id=user_id, body_json=json.dumps(body)
        )

    def statements_of(self, user_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(statements.c.body_json)
                .where(statements.c.user_id == user_id)
                .order_by(statements.c.session_id)
            ).all()
        return [json.loads(r.body_json) for r in rows]

    # ---- EV users -----------------------------------------------------------------------------

    def issue_token(self, user_id: str) -> str:
        """A new random token for ``user_id`` (returned once; its hash replaces the old one)."""
        token = secrets.token_urlsafe(32)
        self._replace(tokens, user_id=user_id, token_sha256=token_hash(token), issued_at=self._t())
        return token

    def user_of_token(self, token: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens.c.user_id).where(tokens.c.token_sha256 == token_hash(token))
            ).first()
        return None if row is None else str(row.user_id)

    def preferences(self, user_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(preferences.c.prefs_json).where(preferences.c.user_id == user_id)
            ).first()
        return None if row is None else dict(json.loads(row.prefs_json))

    def all_preferences(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(preferences)).all()
        return {r.user_id: json.loads(r.prefs_json) for r in rows}

    def set_preferences(self, user_id: str, prefs: dict[str, Any]) -> None:
        self._replace(
            preferences, user_id=user_id, prefs_json=json.dumps(prefs), updated_at=self._t()
        )
