"""The gateway's records about its EV users and what their statements explain: consent
per purpose (:mod:`market.fsp.consent`),
the campaigns (sessions) a user can opt into, each EVSE's nominated baseline, the fleet and
the prognoses a session's bid was built on, and each session's payout transaction and shares.

Why a separate store: these are the EV users' side of the gateway (GDPR consent above all),
kept apart from the market loop's restart state in :mod:`market.fsp.store`; same database,
own tables (``create_all`` here).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from market.agents.fleet import EV, Booking, UserPreferences

metadata = sa.MetaData()

# one decision per (user, purpose): consent to one purpose never implies another (GDPR art. 6)
consents = sa.Table(
    "fsp_ev_consent_purposes",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(32), primary_key=True),
    sa.Column("given", sa.Boolean, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
)

# before per-purpose consent: one decision per user, covering bidding and the statement
LEGACY_CONSENTS = "fsp_ev_consents"
LEGACY_PURPOSES = ("flexibility_bidding", "revenue_statements")

campaigns = sa.Table(
    "fsp_campaigns",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("body_json", sa.Text, nullable=False),
)

nominations = sa.Table(
    "fsp_nominations",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("evse_id", sa.Integer, primary_key=True),
    sa.Column("baseline_json", sa.Text, nullable=False),
)

# the EVs a session's bid planned: dispatch disaggregates the orders over the same fleet
fleets = sa.Table(
    "fsp_session_fleets",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("evs_json", sa.Text, nullable=False),
)

# one prognosis per (session, congestion point): posted once, never re-posted with a new body
prognoses = sa.Table(
    "fsp_prognoses",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("congestion_point", sa.String(64), primary_key=True),
    sa.Column("outcome", sa.Text, nullable=False),
)

payouts = sa.Table(
    "fsp_payout_shares",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("body_json", sa.Text, nullable=False),
)


class EvUserStore:
    """Reads and writes of the EV-user tables; every write is one committed transaction."""

    def __init__(self, engine: Engine, now: Callable[[], float]) -> None:
        self.engine = engine
        metadata.create_all(engine)
        self._migrate_legacy_consents()
        self.now = now

    def _replace(self, table: sa.Table, **values: Any) -> None:
        key = [c == values[c.name] for c in table.primary_key.columns]
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(*key))
            conn.execute(table.insert().values(**values))

    # ---- consent ------------------------------------------------------------------------------

    def _migrate_legacy_consents(self) -> None:
        """A store from before per-purpose consent: each user's one decision becomes the same
        decision for each purpose it covered (bidding and the statement), then the old table
        goes. Runs in one transaction at start-up; a new store has nothing to migrate."""
        if LEGACY_CONSENTS not in sa.inspect(self.engine).get_table_names():
            return
        legacy = sa.Table(LEGACY_CONSENTS, sa.MetaData(), autoload_with=self.engine)
        with self.engine.begin() as conn:
            for row in conn.execute(sa.select(legacy)).all():
                for purpose in LEGACY_PURPOSES:
                    conn.execute(
                        consents.delete().where(
                            consents.c.user_id == row.user_id, consents.c.purpose == purpose
                        )
                    )
                    conn.execute(
                        consents.insert().values(
                            user_id=row.user_id,
                            purpose=purpose,
                            given=bool(row.given),
                            version=row.version,
                            at=int(row.at),
                        )
                    )
            legacy.drop(conn)

    def consent(self, user_id: str) -> dict[str, dict[str, Any]]:
        """Per purpose decided, ``{"given", "version", "at"}`` of the user's latest decision
        (a purpose never asked about is absent)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(consents).where(consents.c.user_id == user_id)).all()
        return {
            str(r.purpose): {"given": bool(r.given), "version": r.version, "at": int(r.at)}
            for r in rows
        }

    def set_consent(
        self,
        user_id: str,
        decisions: dict[str, bool],
        *,
        version: str,
        opt_out: Callable[[sa.Connection], None] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Record each purpose's decision with the gateway's time; ``opt_out`` runs in the
        same transaction (withdrawing bidding consent and leaving every campaign are one
        commit). Returns every purpose's decision after the write."""
        at = int(self.now())
        with self.engine.begin() as conn:
            for purpose, given in sorted(decisions.items()):
                conn.execute(
                    consents.delete().where(
                        consents.c.user_id == user_id, consents.c.purpose == purpose
                    )
                )
                conn.execute(
                    consents.insert().values(
                        user_id=user_id, purpose=purpose, given=given, version=version, at=at
                    )
                )
            if opt_out is not None:
                opt_out(conn)
        return self.consent(user_id)

    def consenting(self, purpose: str) -> set[str]:
        """The users whose latest decision for ``purpose`` is consent."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(consents.c.user_id).where(consents.c.given, consents.c.purpose == purpose)
            ).all()
        return {str(r.user_id) for r in rows}

    # ---- campaigns ----------------------------------------------------------------------------

    def put_campaign(self, row: dict[str, Any]) -> None:
        """A market session as a campaign: its times and the state the gateway saw."""
        body = {
            "session_id": str(row["id"]),
            "state": str(row["state"]),
            "gate_closure": int(row["gate_closure"]),
            "delivery_start": int(row["delivery_start"]),
            "delivery_end": int(row["delivery_end"]),
            "isp_s": int(row["isp_s"]),
        }
        self._replace(campaigns, session_id=body["session_id"], body_json=json.dumps(body))

    def campaigns(self) -> list[dict[str, Any]]:
        """Every campaign, latest delivery first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(campaigns.c.body_json)).all()
        out = [json.loads(r.body_json) for r in rows]
        return sorted(out, key=lambda c: (-c["delivery_start"], c["session_id"]))

    # ---- nominated baselines and shares -------------------------------------------------------

    def put_nominations(self, session_id: str, baselines: dict[tuple[str, int], list[int]]) -> None:
        """Each EVSE's part of the FSP's prognosis (W per session ISP), once per bid."""
        with self.engine.begin() as conn:
            conn.execute(nominations.delete().where(nominations.c.session_id == session_id))
            for (station, evse), watts in sorted(baselines.items()):
                conn.execute(
                    nominations.insert().values(
                        session_id=session_id,
                        station_id=station,
                        evse_id=evse,
                        baseline_json=json.dumps([int(w) for w in watts]),
                    )
                )

    def nominations(self, session_id: str) -> dict[tuple[str, int], list[int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(nominations).where(nominations.c.session_id == session_id)
            ).all()
        return {(r.station_id, int(r.evse_id)): json.loads(r.baseline_json) for r in rows}

    def put_payout(self, session_id: str, body: dict[str, Any]) -> None:
        """The session's payout, its withdrawal transaction and the shares (once settled)."""
        self._replace(payouts, session_id=session_id, body_json=json.dumps(body, sort_keys=True))

    def payout(self, session_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(payouts.c.body_json).where(payouts.c.session_id == session_id)
            ).first()
        return None if row is None else dict(json.loads(row.body_json))

    # ---- the fleet a bid planned --------------------------------------------------------------

    def put_fleet(self, session_id: str, evs: list[EV]) -> None:
        body = json.dumps([dataclasses.asdict(e) for e in evs], sort_keys=True)
        self._replace(fleets, session_id=session_id, evs_json=body)

    def fleet(self, session_id: str) -> list[EV] | None:
        """The EVs the session's bid planned, or None (not bid by this gateway)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(fleets).where(fleets.c.session_id == session_id)).first()
        if row is None:
            return None
        out = []
        for d in json.loads(row.evs_json):
            prefs = UserPreferences(**d.pop("preferences"))
            bookings = tuple(Booking(**b) for b in d.pop("bookings"))
            out.append(EV(**d, preferences=prefs, bookings=bookings))
        return out

    def prognosis_outcome(self, session_id: str, congestion_point: str) -> str | None:
        """``posted``, or the market's refusal, of the session's prognosis for the point."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(prognoses.c.outcome).where(
                    prognoses.c.session_id == session_id,
                    prognoses.c.congestion_point == congestion_point,
                )
            ).first()
        return None if row is None else str(row.outcome)

    def put_prognosis_outcome(self, session_id: str, congestion_point: str, outcome: str) -> None:
        self._replace(
            prognoses, session_id=session_id, congestion_point=congestion_point, outcome=outcome
        )
