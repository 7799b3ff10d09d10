"""The write pipeline of signed envelopes and the visibility rules of private reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from adapters.clock import Clock, SystemClock
from clearing.encoding import hex32
from clearing.messages import FlexRequest
from market.auth.eip712 import Domain, verify_envelope
from market.core.drafts import DraftHandlers
from market.core.kinds import BEFORE_CLOSURE, KINDS, id_field
from market.core.readings import ReadingRules
from market.core.rows import get_row, insert_into
from market.core.session_policy import DsoSessionPolicy
from market.core.stations import StationHandlers
from market.errors import (
    Conflict,
    DuplicateMessage,
    Forbidden,
    InvalidMessage,
    MessageExpired,
    NotFound,
    RoleRequired,
    Unauthenticated,
)
from market.roles import RoleCache
from market.store import models as m


@dataclass
class Accepted:
    """Outcome of a write: HTTP status and the JSON text to return (stored for replays)."""

    status: int
    json_text: str
    replayed: bool = False

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.json_text)
        return parsed


@dataclass
class MarketCore(DraftHandlers, StationHandlers):
    """Holds the store engine, the chain-backed role cache, the EIP-712 domain and the clock."""

    engine: Engine
    domain: Domain
    roles: RoleCache
    clock: Clock = field(default_factory=SystemClock)
    max_message_ttl_s: int = 24 * 3600
    request_escrow_check: Callable[[FlexRequest, str], None] | None = None
    # (station id, meter key or None, FSP) -> the CPO-registered key; refuses an ungranted one.
    station_check: Callable[[str, str | None, str], str] | None = None
    reading_rules: ReadingRules = field(default_factory=ReadingRules)
    dso_sessions: DsoSessionPolicy = field(default_factory=DsoSessionPolicy)
    _session_cache: dict[str, tuple[float, Any]] = field(default_factory=dict, repr=False)
    _known_points: set[str] = field(default_factory=set, repr=False)

    # ---- the write pipeline -------------------------------------------------------------

    def submit(
        self,
        kind_name: str,
        envelope: dict[str, Any],
        *,
        body: BaseModel | None = None,
        extra_rows: Sequence[tuple[Any, dict[str, Any]]] = (),
    ) -> Accepted:
        """Accept one signed envelope; ``body`` is the already validated model, if any.

        ``extra_rows`` are stored in the same transaction (an offer's UFTP proof), never alone.

        A pre-validated body (FastAPI checked it against the strict model: no floats, only
        schema field names) lets the body hash use the C JSON encoder; see eip712.body_hash.
        """
        kind = KINDS[kind_name]
        if envelope.get("kind") != kind_name:
            raise InvalidMessage(f"must be {kind_name!r} for this endpoint", field="kind")
        with self.engine.connect() as conn:  # one connection (one pool checkout) per write
            signer, bh = verify_envelope(
                self.domain,
                envelope,
                validated=body is not None,
                isp_s=self._summary_isp_s(conn, kind_name, envelope.get("body")),
            )
            body_hash = hex32(bh)
            message_id = envelope["message_id"]
            previous = get_row(conn, m.MessageLog, message_id)
            if previous is not None:
                return self._replay(previous, signer=signer, kind=kind_name, body_hash=body_hash)
            now = self.clock.now()
            self._check_expiry(int(envelope["expiry"]), now)
            held = self.roles.roles_of(signer)
            if not held & kind.roles:
                raise RoleRequired(
                    f"{signer} holds {sorted(held) or 'no role'} on-chain; "
                    f"{kind_name} needs one of {sorted(kind.roles)}",
                    field="signer",
                )
            if body is None:
                try:
                    body = kind.model.model_validate(envelope["body"])
                except ValidationError as exc:
                    err = exc.errors()[0]
                    path = ".".join(str(p) for p in ("body", *err["loc"]))
                    raise InvalidMessage(err["msg"], field=path) from exc
            handler = getattr(self, f"_{kind_name}")
            try:
                rows, response = handler(conn, body=body, signer=signer, roles=held, now=int(now))
                text = (
                    response if isinstance(response, str) else json.dumps(response, sort_keys=True)
                )
                log_row = {
                    "message_id": message_id,
                    "signer": signer,
                    "kind": kind_name,
                    "body_hash": body_hash,
                    "status_code": 201,
                    "response_json": text,
                    "created_at": int(now),
                }
                conn.execute(insert_into(m.MessageLog), log_row)
                for model, values in [*rows, *extra_rows]:
                    conn.execute(insert_into(model), values)
                conn.commit()
            except IntegrityError:
                conn.rollback()
                previous = get_row(conn, m.MessageLog, message_id)
                conn.rollback()
                if previous is not None:
                    return self._replay(
                        previous, signer=signer, kind=kind_name, body_hash=body_hash
                    )
                raise Conflict(
                    "a resource with this id already exists", field=f"body.{id_field(kind_name)}"
                ) from None
            except BaseException:
                conn.rollback()
                raise
        return Accepted(201, text)

    def _summary_isp_s(self, conn: Connection, kind_name: str, body: Any) -> int | None:
        """An offer's session ISP length (its summary shows energy in Wh); None otherwise."""
        if kind_name != "offer" or not isinstance(body, dict):
            return None
        session_id = body.get("session_id")
        if not isinstance(session_id, str) or len(session_id) > 64:
            return None
        session = self._cached_session(conn, session_id)
        return None if session is None else int(session.isp_s)

    def offer_isp_s(self, body: Any) -> int | None:
        """The ISP length an offer's summary uses (for ``POST /typed-data``)."""
        with self.engine.connect() as conn:
            return self._summary_isp_s(conn, "offer", body)

    def _check_expiry(self, expiry: int, now: float) -> None:
        if expiry <= now:
            raise MessageExpired(f"expired at {expiry}, now is {int(now)}", field="expiry")
        if expiry > now + self.max_message_ttl_s:
            raise MessageExpired(
                f"more than {self.max_message_ttl_s} s in the future", field="expiry"
            )

    @staticmethod
    def _replay(previous: Any, *, signer: str, kind: str, body_hash: str) -> Accepted:
        if (previous.signer, previous.kind, previous.body_hash) != (signer, kind, body_hash):
            raise DuplicateMessage(
                "this message id was already used with a different body or signer",
                field="message_id",
            )
        return Accepted(previous.status_code, previous.response_json, replayed=True)

    # ---- reads ------------------------------------------------------------------------------

    def offers_visible(
        self, session: m.MarketSession, *, reader: str | None, fsp: str | None
    ) -> list[m.OfferRow]:
        """Offers of a session as ``reader`` may see them (private until gate closure)."""
        now = int(self.clock.now())
        public = session.state not in BEFORE_CLOSURE or now >= session.gate_closure
        with Session(self.engine) as db:
            q = select(m.OfferRow).where(m.OfferRow.session_id == session.id)
            if not public:
                if reader is None:
                    raise Unauthenticated(
                        "offers are private until gate closure; sign in (SIWE) to read your own",
                        field="authorization",
                    )
                if not self.is_operator(reader):
                    if fsp is not None and fsp.lower() != reader:
                        raise Forbidden(
                            "another FSP's offers are private until gate closure", field="fsp"
                        )
                    fsp = reader
            if fsp is not None:
                q = q.where(m.OfferRow.fsp == fsp.lower())
            return list(db.exec(q.order_by(m.OfferRow.id)))

    def offer_visible(self, offer_id: str, *, reader: str | None) -> m.OfferRow:
        with Session(self.engine) as db:
            offer = db.get(m.OfferRow, offer_id)
            if offer is None:
                raise NotFound(f"no offer {offer_id}", field="offer_id")
            session = db.get(m.MarketSession, offer.session_id)
        assert session is not None
        now = int(self.clock.now())
        if session.state in BEFORE_CLOSURE and now < session.gate_closure:
            if reader is None:
                raise Unauthenticated(
                    "offers are private until gate closure", field="authorization"
                )
            if reader != offer.fsp and not self.is_operator(reader):
                raise Forbidden(
                    "another FSP's offer is private until gate closure", field="offer_id"
                )
        return offer

    def is_operator(self, address: str) -> bool:
        return "MARKET_OPERATOR" in self.roles.roles_of(address)

    def count_rows(self) -> dict[str, int]:
        """Row count per table (tests use it to prove refusals changed nothing)."""
        tables = [
            *(m.MessageLog, m.OfferRow, m.FlexRequestRow, m.PrognosisRow, m.MarketSession),
            *(m.RequestDraft, m.RequestDraftDecision),
        ]
        with Session(self.engine) as db:
            return {
                t.__tablename__: db.exec(select(func.count()).select_from(t)).one()  # type: ignore[attr-defined]
                for t in tables
            }
