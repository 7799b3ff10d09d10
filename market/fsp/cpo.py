"""The gateway's CSMS acting for the stations' CPO: after a session's delivery it signs, per
station and ISP, a digest of the readings it received and sends them to the market.

Why in the gateway: under terms with ``readings_digests_required`` the meter oracle attests
only a reading set the stations' CPOs vouched for (``clearing/readings_digest.py``), and the
CPO's account is the one that registered each station's meter key on-chain.  The CSMS that
receives the readings is embedded here, so with the CPO's key (``cpo_key_env`` of a station)
the gateway signs for it; the digests go to ``POST /sessions/{id}/readings-digests`` signed by
the CPO, never by the FSP.

The cut: once the session's meter grace has passed, the digests are computed from the outbox
in one transaction, remembering the newest outbox row they saw.  A reading that reaches the
CSMS later but falls in the session's reading window would make the market's set differ from
the digests (``extra``), so the relay holds it back until the session is attested (then it is
sent; another session may still need it).  A reading counted but not yet relayed is relayed
as usual; until then the oracle's verify step names it ``withheld`` and waits.  The cut and
its digests are stored, so a restarted gateway posts the same digests again (a no-op).

The deployment: a digest names the chain id and market contract it counts in.  The CPO takes
them from its own configuration (``deployment`` of ``fsp.yaml``), never from the market's
``GET /deployment`` alone: an operator advertising another deployment (one it also runs) would
otherwise get digests signed for it.  A mismatch refuses the cut, naming the field; nothing is
signed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from clearing.readings_digest import Domain, cpo_digests
from clearing.settlement.delivery import required_reading_window
from clearing.settlement.meter import SignedMeterReading
from clearing.terms import SessionTerms
from clearing.trust import secp256k1_key
from market.auth.eip712 import address_of
from market.client import MarketClient
from market.fsp.store import GatewayStore, outbox
from market.participant.errors import ParticipantError
from market.participant.participant import Participant

__all__ = ["CpoDigests", "Cut"]

Log = Callable[[dict[str, Any]], None]

#: Outbox states a digest counts: received signed readings not refused by the market.
COUNTED = ("pending", "sent")
#: Session states in which a cut's late readings are held back (before attestation).
HOLD_STATES = frozenset({"CLEARED", "DELIVERING"})

metadata = sa.MetaData()
cuts = sa.Table(
    "fsp_cpo_digests",
    metadata,
    sa.Column("session_id", sa.String(36), primary_key=True),
    sa.Column("lo", sa.BigInteger, nullable=False),
    sa.Column("hi", sa.BigInteger, nullable=False),
    sa.Column("max_id", sa.Integer, nullable=False),
    sa.Column("digests_json", sa.Text, nullable=False),  # {cpo key env: [digest, ...]}
    sa.Column("posted", sa.Boolean, nullable=False),
)


@dataclass(frozen=True)
class Cut:
    """The readings window of a session whose digests were taken, and the newest outbox row
    they saw: a later row in the window is not in them."""

    session_id: str
    lo: int
    hi: int
    max_id: int

    def holds(self, row_id: int, timestamp: int) -> bool:
        return row_id > self.max_id and self.lo <= timestamp <= self.hi


def _signed(reading_json: str) -> SignedMeterReading:
    r = json.loads(reading_json)
    return SignedMeterReading(
        station=r["station_id"],
        evse=r["evse_id"],
        timestamp=r["timestamp"],
        import_wh=r["import_wh"],
        export_wh=r["export_wh"],
        signature=r.get("signature") or "",
    )


@dataclass
class CpoDigests:
    """The CPO side of one gateway: ``keys`` maps each station to its CPO's key (stations
    without one are not vouched for here); ``deployment`` is the (chain id, market address)
    the CPO's own configuration names."""

    store: GatewayStore
    keys: dict[str, str]
    market_url: str
    now: Callable[[], float]
    log: Log
    deployment: Domain | None = None
    client_for: Callable[[str], MarketClient] | None = None  # tests: an in-process client
    _terms: dict[str, SessionTerms | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.keys:
            metadata.create_all(self.store.engine)

    def _post(self, key: str, sid: str, digests: list[dict[str, Any]]) -> dict[str, Any]:
        """Send one CPO's digests, signed by that CPO."""
        if self.client_for is not None:
            return self.client_for(key).post_readings_digests(sid, digests)
        with MarketClient(self.market_url, key, now=self.now) as client:
            return client.post_readings_digests(sid, digests)

    def held(self, rows: list[dict[str, Any]]) -> list[Cut]:
        """The cuts of sessions not yet attested (their late readings wait)."""
        if not self.keys:
            return []
        waiting = {str(r["id"]) for r in rows if str(r["state"]) in HOLD_STATES}
        with self.store.engine.connect() as conn:
            found = conn.execute(sa.select(cuts.c.session_id, cuts.c.lo, cuts.c.hi, cuts.c.max_id))
            return [Cut(*r) for r in found if r.session_id in waiting]

    def hold(self, rows: list[dict[str, Any]]) -> Callable[[int, int], bool]:
        """The relay's ``hold``: true for an outbox row (id, timestamp) a held cut excludes."""
        held = self.held(rows)
        return lambda row_id, ts: any(c.holds(row_id, ts) for c in held)

    def step(self, row: dict[str, Any], participant: Participant) -> None:
        """For a cleared session under terms requiring digests: after its meter grace, take
        the cut (once) and post its digests (until the market took them)."""
        if not self.keys or str(row["state"]) not in HOLD_STATES:
            return
        sid = str(row["id"])
        if self.now() < int(row["delivery_end"]):
            return
        terms = self._session_terms(sid, participant)
        if terms is None or self.now() < terms.delivery_end + terms.meter_grace_s:
            return
        with self.store.engine.connect() as conn:
            done = conn.execute(
                sa.select(cuts.c.digests_json, cuts.c.posted).where(cuts.c.session_id == sid)
            ).first()
        digests_json = done.digests_json if done is not None else self._cut(terms, participant)
        if done is not None and done.posted:
            return
        key_of = {address_of(k).lower(): k for k in self.keys.values()}
        stored = 0
        for cpo, digests in sorted(json.loads(digests_json).items()):
            stored += int(self._post(key_of[cpo], sid, digests).get("stored", 0))
        with self.store.engine.begin() as conn:
            conn.execute(cuts.update().where(cuts.c.session_id == sid).values(posted=True))
        self.log({"event": "readings_digests_sent", "session_id": sid, "stored": stored})

    def _session_terms(self, sid: str, participant: Participant) -> SessionTerms | None:
        """The session's committed terms (None: digests not required), read once."""
        if sid not in self._terms:
            terms = SessionTerms.model_validate_json(participant.client.bundle(sid, "terms"))
            self._terms[sid] = terms if terms.readings_digests_required else None
        return self._terms[sid]

    def _domain(self, participant: Participant) -> Domain:
        """The market's advertised deployment, if it is the one the CPO's configuration names;
        else a ParticipantError naming the field (nothing is signed)."""
        if self.deployment is None:
            raise ParticipantError(
                "deployment", "the CPO's own chain_id and market_address are not configured"
            )
        advertised = participant.client.domain()
        own_chain, own_market = self.deployment
        if advertised.chain_id != own_chain:
            raise ParticipantError(
                "deployment.chain_id",
                f"the market advertises chain {advertised.chain_id}, the CPO's configuration "
                f"names {own_chain}: no readings digest signed",
            )
        if advertised.verifying_contract.lower() != own_market.lower():
            raise ParticipantError(
                "deployment.market_address",
                f"the market advertises {advertised.verifying_contract.lower()}, the CPO's "
                f"configuration names {own_market.lower()}: no readings digest signed",
            )
        return own_chain, own_market.lower()

    def _cut(self, terms: SessionTerms, participant: Participant) -> str:
        """Digests of every CPO over the outbox as it is now, stored with the cut; returns
        them as JSON ``{cpo address: [digest, ...]}``."""
        lo, hi = required_reading_window(terms.settlement, terms.delivery_start, terms.delivery_end)
        domain = self._domain(participant)
        stations_of: dict[str, set[str]] = defaultdict(set)
        for station, key in self.keys.items():
            stations_of[key].add(station)
        with self.store.engine.begin() as conn:
            max_id = int(conn.execute(sa.select(sa.func.max(outbox.c.id))).scalar() or 0)
            rows = conn.execute(
                sa.select(outbox.c.reading_json).where(
                    outbox.c.id <= max_id,
                    outbox.c.station_id.in_(sorted(self.keys)),
                    outbox.c.timestamp >= lo,
                    outbox.c.timestamp <= hi,
                    outbox.c.status.in_(COUNTED),
                )
            ).all()
            received = [_signed(r.reading_json) for r in rows]
            by_cpo = {
                address_of(key).lower(): [
                    d.model_dump(mode="json")
                    for d in cpo_digests(
                        session_id=terms.session_id,
                        readings=[r for r in received if r.station in stations],
                        stations=stations,
                        window=(lo, hi),
                        delivery_start=terms.delivery_start,
                        isp_s=terms.isp_s,
                        key=secp256k1_key(key),
                        domain=domain,
                    )
                ]
                for key, stations in stations_of.items()
            }
            digests_json = json.dumps(by_cpo, sort_keys=True)
            conn.execute(
                cuts.insert().values(
                    session_id=terms.session_id,
                    lo=lo,
                    hi=hi,
                    max_id=max_id,
                    digests_json=digests_json,
                    posted=False,
                )
            )
        self.log(
            {
                "event": "readings_digests_cut",
                "session_id": terms.session_id,
                "readings": len(received),
                "window": [lo, hi],
            }
        )
        return digests_json
