"""The CPOs' readings digests as the service takes them: checked, stored, and handed to the
meter oracle (``DigestSource``) for sessions whose terms require them.

Why here: a CPO sends its signed digests to the service (``POST
/sessions/{id}/readings-digests``), possibly before the oracle's verify step runs and in several
messages (one per CPO, or late ones for ISPs it missed).  Each digest is checked on arrival
against what the chain says, so the verify step meets only digests that could count: signed by
the signer of the message, that signer is the station's CPO on-chain, for this session and this
deployment (chain id and market address).  A digest is never replaced: a second, different one
for the same station and ISP is a :class:`~market.errors.DuplicateDigest`; the same one again
is a no-op.  Nothing is taken once the session's delivery is attested or its digests are
committed on-chain (the oracle has used them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adapters.chain.types import SessionState
from clearing.encoding import canonical_json
from clearing.readings_digest import ReadingsDigest, digest_signer
from market.errors import (
    DuplicateDigest,
    InvalidMessage,
    NotFound,
    StationNotRegisteredBySigner,
    WrongSessionState,
)
from market.ledger import Ledger
from market.lifecycle.readings import DigestSource
from market.store.models.readings_digest import ReadingsDigestRow

__all__ = [
    "Stored",
    "check_digests",
    "check_open",
    "load_digests",
    "save_digests",
    "stored_digest_source",
]

#: Largest ISP start a row holds (Unix seconds, as every other time column).
MAX_UNIX = 2**40


@dataclass(frozen=True)
class Stored:
    """What one message changed: digests new in the store, and those stored already as sent."""

    stored: int
    unchanged: int


def _json(d: ReadingsDigest) -> str:
    return canonical_json(d.model_dump(mode="python")).decode()


def check_open(ledger: Ledger, session_id: str) -> None:
    """The session exists on-chain and its delivery is neither attested nor are digests
    committed (after that the oracle has used the digests and a new one would not count)."""
    state = ledger.session(session_id).state
    if state == SessionState.NONE:
        raise NotFound(f"no session {session_id} on-chain", field="session_id")
    if state >= SessionState.VERIFIED or ledger.session_events(
        "ReadingsDigestsCommitted", session_id
    ):
        raise WrongSessionState(
            f"session {session_id} is {state.name} on-chain with its readings digests "
            "committed or its delivery attested: digests are taken before attestation",
            field="session_id",
        )


def check_digests(
    ledger: Ledger, session_id: str, signer: str, digests: Sequence[ReadingsDigest]
) -> None:
    """Each digest is for this session and deployment, of a station whose meter key ``signer``
    registered on-chain, signed by ``signer``, and listed once."""
    domain = (ledger.chain_id, ledger.market_address.lower())
    seen: set[tuple[str, int]] = set()
    cpo_of: dict[str, str] = {}
    for i, d in enumerate(digests):
        at = f"body.digests[{i}]"
        if d.session_id != session_id:
            raise InvalidMessage(f"must equal the session {session_id}", field=f"{at}.session_id")
        if d.chain_id != domain[0]:
            raise InvalidMessage(
                f"signed for chain {d.chain_id}, this market is on chain {domain[0]}",
                field=f"{at}.chain_id",
            )
        if d.market != domain[1]:
            raise InvalidMessage(
                f"signed for market {d.market}, this market is {domain[1]}", field=f"{at}.market"
            )
        if len(d.station) > 64:
            raise InvalidMessage("at most 64 characters", field=f"{at}.station")
        if not 0 <= d.isp_start < MAX_UNIX:
            raise InvalidMessage(f"must be in [0, {MAX_UNIX})", field=f"{at}.isp_start")
        if d.key in seen:
            raise InvalidMessage(f"{d.station}@{d.isp_start} listed twice", field=at)
        seen.add(d.key)
        if d.station not in cpo_of:
            cpo_of[d.station] = ledger.market.station(d.station).cpo.lower()
        if cpo_of[d.station] != signer:
            raise StationNotRegisteredBySigner(
                f"station {d.station}'s meter key was registered by "
                f"{cpo_of[d.station] if int(cpo_of[d.station], 16) else 'no CPO'}, not {signer}",
                field=f"{at}.station",
            )
        if digest_signer(d) != signer:
            raise InvalidMessage(
                f"does not recover to the signer {signer}", field=f"{at}.signature"
            )


def save_digests(
    engine: Engine,
    *,
    session_id: str,
    cpo: str,
    message_id: str,
    digests: Sequence[ReadingsDigest],
    at: int,
) -> Stored:
    """Store the (checked) digests in one transaction; raises DuplicateDigest, storing none,
    when any station and ISP already has another digest."""
    try:
        with Session(engine) as db:
            new, unchanged = [], 0
            for i, d in enumerate(digests):
                row = db.get(ReadingsDigestRow, (session_id, d.station, d.isp_start))
                if row is None:
                    new.append(d)
                elif row.digest_json == _json(d):
                    unchanged += 1
                else:
                    raise DuplicateDigest(
                        f"a different digest for {d.station}@{d.isp_start} is stored already "
                        f"(message {row.message_id})",
                        field=f"body.digests[{i}]",
                    )
            for d in new:
                db.add(
                    ReadingsDigestRow(
                        session_id=session_id,
                        station=d.station,
                        isp_start=d.isp_start,
                        cpo=cpo,
                        message_id=message_id,
                        digest_json=_json(d),
                        received_at=at,
                    )
                )
            db.commit()
            return Stored(stored=len(new), unchanged=unchanged)
    except IntegrityError:  # raced a writer of the same keys: answer as if it came first
        return save_digests(
            engine, session_id=session_id, cpo=cpo, message_id=message_id, digests=digests, at=at
        )


def load_digests(engine: Engine, session_id: str) -> list[ReadingsDigest]:
    """Every stored digest of a session, by station and ISP."""
    row = ReadingsDigestRow
    with Session(engine) as db:
        rows = db.exec(
            select(row)
            .where(row.session_id == session_id)
            .order_by(col(row.station), col(row.isp_start))
        )
        return [ReadingsDigest.model_validate_json(r.digest_json) for r in rows]


def stored_digest_source(engine: Engine) -> DigestSource:
    """The meter oracle's ``DigestSource`` in the service: what the CPOs sent for the session
    (the oracle checks them against the delivery and names any missing one)."""

    def source(
        session_id: str, _window: tuple[int, int], _start: int, _isp_s: int
    ) -> list[ReadingsDigest]:
        return load_digests(engine, session_id)

    return source
