"""The market's write and read rules, independent of HTTP.

Every write arrives as a signed envelope and goes through one pipeline:
signature → idempotency by message id → expiry → on-chain role → per-kind rules → one
transaction that stores the resource together with the message log row.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam, func, insert, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from adapters.clock import Clock, SystemClock
from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from clearing.trust import canonical_json
from market.api.schemas import (
    AssetCreate,
    CongestionPointCreate,
    DispatchStatusCreate,
    MeterReadingCreate,
    ParticipantCreate,
    SessionCreate,
)
from market.auth.eip712 import Domain, verify_envelope
from market.errors import (
    Conflict,
    DuplicateMessage,
    Forbidden,
    GateClosed,
    InvalidMessage,
    MessageExpired,
    NotFound,
    RoleRequired,
    Unauthenticated,
    UnknownCongestionPoint,
    WrongSessionState,
)
from market.roles import RoleCache
from market.store import models as m

log = logging.getLogger(__name__)

BEFORE_CLOSURE = ("PENDING", "OPEN")
SESSION_CACHE_S = 1.0


#: What a per-kind handler returns: rows to insert (table model, values) and the response.
Handled = tuple[list[tuple[Any, dict[str, Any]]], "dict[str, Any] | str"]


@dataclass(frozen=True)
class Kind:
    """What one signed message kind needs: its body model and the roles allowed to send it."""

    model: type[BaseModel]
    roles: frozenset[str]


KINDS: dict[str, Kind] = {
    "session": Kind(SessionCreate, frozenset({"MARKET_OPERATOR"})),
    "participant": Kind(
        ParticipantCreate, frozenset({"MARKET_OPERATOR", "DSO", "FSP", "METER_ORACLE", "ARBITER"})
    ),
    "congestion_point": Kind(CongestionPointCreate, frozenset({"MARKET_OPERATOR", "DSO"})),
    "asset": Kind(AssetCreate, frozenset({"FSP"})),
    "request": Kind(FlexRequest, frozenset({"DSO"})),
    "prognosis": Kind(DPrognosis, frozenset({"FSP"})),
    "offer": Kind(FlexOffer, frozenset({"FSP"})),
    "meter_reading": Kind(MeterReadingCreate, frozenset({"METER_ORACLE", "MARKET_OPERATOR"})),
    "dispatch_status": Kind(DispatchStatusCreate, frozenset({"MARKET_OPERATOR"})),
}


@dataclass
class Accepted:
    """Outcome of a write: HTTP status and the JSON text to return (stored for replays)."""

    status: int
    json_text: str
    replayed: bool = False

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.json_text)


@dataclass
class MarketCore:
    """Holds the store engine, the chain-backed role cache, the EIP-712 domain and the clock."""

    engine: Engine
    domain: Domain
    roles: RoleCache
    clock: Clock = field(default_factory=SystemClock)
    max_message_ttl_s: int = 24 * 3600
    request_escrow_check: Callable[[FlexRequest, str], None] | None = None
    _session_cache: dict[str, tuple[float, Any]] = field(default_factory=dict, repr=False)
    _known_points: set[str] = field(default_factory=set, repr=False)

    # ---- the write pipeline -------------------------------------------------------------

    def submit(
        self, kind_name: str, envelope: dict[str, Any], *, body: BaseModel | None = None
    ) -> Accepted:
        """Accept one signed envelope; ``body`` is the already validated model, if any.

        A pre-validated body (FastAPI checked it against the strict model: no floats, only
        schema field names) lets the body hash use the C JSON encoder; see eip712.body_hash.
        """
        kind = KINDS[kind_name]
        if envelope.get("kind") != kind_name:
            raise InvalidMessage(f"must be {kind_name!r} for this endpoint", field="kind")
        signer, bh = verify_envelope(self.domain, envelope, validated=body is not None)
        body_hash = hex32(bh)
        message_id = envelope["message_id"]
        with self.engine.connect() as conn:  # one connection (one pool checkout) per write
            previous = _get(conn, m.MessageLog, message_id)
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
                conn.execute(_insert(m.MessageLog), log_row)
                for model, values in rows:
                    conn.execute(_insert(model), values)
                conn.commit()
            except IntegrityError:
                conn.rollback()
                previous = _get(conn, m.MessageLog, message_id)
                conn.rollback()
                if previous is not None:
                    return self._replay(
                        previous, signer=signer, kind=kind_name, body_hash=body_hash
                    )
                raise Conflict(
                    "a resource with this id already exists", field=f"body.{_id_field(kind_name)}"
                ) from None
            except BaseException:
                conn.rollback()
                raise
        return Accepted(201, text)

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

    # ---- shared checks --------------------------------------------------------------------

    def _session_before_gate(self, conn: Connection, session_id: str, now: int) -> Any:
        session = self._cached_session(conn, session_id)
        if session is None:
            raise NotFound(f"no session {session_id}", field="body.session_id")
        if session.state not in BEFORE_CLOSURE or now >= session.gate_closure:
            raise GateClosed(
                f"session {session_id} closed its gate at {session.gate_closure} "
                f"(state {session.state})",
                field="body.session_id",
            )
        return session

    def _cached_session(self, conn: Connection, session_id: str) -> Any:
        """Session rows for a second: gate closure never changes, and the time check is fresh."""
        hit = self._session_cache.get(session_id)
        mono = time.monotonic()
        if hit is not None and mono - hit[0] < SESSION_CACHE_S:
            return hit[1]
        row = _get(conn, m.MarketSession, session_id)
        if row is not None:
            self._session_cache[session_id] = (mono, row)
        return row

    def _known_point(
        self, conn: Connection, code: str, field_path: str = "body.congestion_point"
    ) -> None:
        if code in self._known_points:
            return
        if _get(conn, m.CongestionPoint, code) is None:
            raise UnknownCongestionPoint(
                f"congestion point {code!r} is not registered", field=field_path
            )
        self._known_points.add(code)  # points are never deleted

    @staticmethod
    def _isps_in_session(session: Any, items: Any, field_path: str) -> None:
        count = (session.delivery_end - session.delivery_start) // session.isp_s
        for j, item in enumerate(items):
            if item.isp_index >= count:
                raise InvalidMessage(
                    f"ISP {item.isp_index} outside the session (0..{count - 1})",
                    field=f"{field_path}[{j}].isp_index",
                )

    @staticmethod
    def _own(address: str, signer: str, field_path: str) -> None:
        if address.lower() != signer:
            raise Forbidden(f"{address} is not the signer {signer}", field=field_path)

    # ---- per-kind handlers: return ([(table model, values)], response) ----------------------

    def _session(
        self, conn: Connection, *, body: SessionCreate, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        if _get(conn, m.MarketSession, body.session_id) is not None:
            raise Conflict("session id already exists", field="body.session_id")
        if body.gate_closure <= now:
            raise InvalidMessage(f"must be after now ({now})", field="body.gate_closure")
        row = m.MarketSession(
            id=body.session_id,
            onchain_id=hex32(uuid_to_bytes32(body.session_id)),
            state="PENDING",
            gate_closure=body.gate_closure,
            delivery_start=body.delivery_start,
            delivery_end=body.delivery_end,
            isp_s=body.isp_s,
            challenge_window_s=body.challenge_window_s,
            created_at=now,
        )
        return [(m.MarketSession, row.model_dump())], session_public(row)

    def _participant(
        self,
        conn: Connection,
        *,
        body: ParticipantCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        values = {
            "address": signer,
            "name": body.name,
            "eic_code": body.eic_code,
            "ean_codes": ",".join(body.ean_codes),
            "roles": ",".join(sorted(roles)),
            "created_at": now,
        }
        table = m.Participant.__table__  # type: ignore[attr-defined]
        if _get(conn, m.Participant, signer) is not None:
            conn.execute(
                update(table)
                .where(table.c.address == signer)
                .values({k: v for k, v in values.items() if k not in ("address", "created_at")})
            )
            rows = []
        else:
            rows = [(m.Participant, values)]
        return rows, participant_public(m.Participant(**values))

    def _congestion_point(
        self,
        conn: Connection,
        *,
        body: CongestionPointCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        if _get(conn, m.CongestionPoint, body.code) is not None:
            raise Conflict("congestion point already registered", field="body.code")
        if body.parent_code is not None:
            self._known_point(conn, body.parent_code, "body.parent_code")
        values = body.model_dump()
        return [(m.CongestionPoint, values)], values

    def _asset(
        self, conn: Connection, *, body: AssetCreate, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        self._known_point(conn, body.congestion_point)
        if _get(conn, m.Asset, body.asset_id) is not None:
            raise Conflict("asset id already exists", field="body.asset_id")
        data = body.model_dump()
        values = {"id": data.pop("asset_id"), "owner": signer, **data}
        return [(m.Asset, values)], asset_public(m.Asset(**values))

    def _request(
        self, conn: Connection, *, body: FlexRequest, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        session = self._session_before_gate(conn, body.session_id, now)
        session = _get(conn, m.MarketSession, body.session_id)  # fresh: state matters here
        if session.state != "OPEN":
            raise WrongSessionState(
                "session is not open on-chain yet; escrow cannot be posted", field="body.session_id"
            )
        self._known_point(conn, body.congestion_point)
        self._isps_in_session(session, body.isps, "body.isps")
        table = m.FlexRequestRow.__table__  # type: ignore[attr-defined]
        clash = conn.execute(
            select(table.c.id).where(
                table.c.session_id == body.session_id,
                table.c.congestion_point == body.congestion_point,
                table.c.direction == body.direction,
                table.c.cancelled == False,  # noqa: E712
            )
        ).first()
        if clash is not None and clash.id != body.request_id:
            raise Conflict(
                f"request {clash.id} already asks for {body.direction} at "
                f"{body.congestion_point}; one request per point and direction",
                field="body.direction",
            )
        if self.request_escrow_check is not None:
            self.request_escrow_check(body, signer)
        canonical = body.to_canonical()
        values = {
            "id": body.request_id,
            "session_id": body.session_id,
            "dso": signer,
            "congestion_point": body.congestion_point,
            "direction": body.direction,
            "budget_units": body.budget_units,
            "body_json": canonical.decode(),
            "body_hash": hex32(keccak256(canonical)),
            "message_id": "",
            "cancelled": False,
        }
        return [(m.FlexRequestRow, values)], message_public_json(
            values["body_json"], body_hash=values["body_hash"], submitter=signer
        )

    def _prognosis(
        self, conn: Connection, *, body: DPrognosis, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        self._own(body.fsp, signer, "body.fsp")
        session = self._session_before_gate(conn, body.session_id, now)
        self._known_point(conn, body.congestion_point)
        self._isps_in_session(session, body.isps, "body.isps")
        canonical = fast_canonical(body)
        values = {
            "id": body.prognosis_id,
            "session_id": body.session_id,
            "fsp": signer,
            "congestion_point": body.congestion_point,
            "body_json": canonical.decode(),
            "body_hash": hex32(keccak256(canonical)),
            "message_id": "",
        }
        return [(m.PrognosisRow, values)], message_public_json(
            values["body_json"], body_hash=values["body_hash"], submitter=signer
        )

    def _offer(
        self, conn: Connection, *, body: FlexOffer, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        self._own(body.fsp, signer, "body.fsp")
        session = self._session_before_gate(conn, body.session_id, now)
        self._known_point(conn, body.congestion_point)
        for k, option in enumerate(body.options):
            self._isps_in_session(session, option.isps, f"body.options[{k}].isps")
            self._isps_in_session(session, option.rebound, f"body.options[{k}].rebound")
        if body.request_id is not None:
            req = _get(conn, m.FlexRequestRow, body.request_id)
            if req is None or req.session_id != body.session_id:
                raise NotFound(
                    f"no request {body.request_id} in this session", field="body.request_id"
                )
            if req.direction != body.direction:
                raise InvalidMessage(
                    f"differs from its request ({req.direction})", field="body.direction"
                )
        if body.baseline_ref is not None:
            prog = _get(conn, m.PrognosisRow, body.baseline_ref)
            if prog is None or prog.session_id != body.session_id or prog.fsp != signer:
                raise NotFound(
                    f"no prognosis {body.baseline_ref} of yours in this session",
                    field="body.baseline_ref",
                )
        canonical = fast_canonical(body)
        values = {
            "id": body.offer_id,
            "session_id": body.session_id,
            "fsp": signer,
            "congestion_point": body.congestion_point,
            "request_id": body.request_id,
            "body_json": canonical.decode(),
            "body_hash": hex32(keccak256(canonical)),
            "message_id": "",
            "created_at": now,
        }
        return [(m.OfferRow, values)], message_public_json(
            values["body_json"], body_hash=values["body_hash"], submitter=signer
        )

    def _meter_reading(
        self,
        conn: Connection,
        *,
        body: MeterReadingCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        values = {**body.model_dump(), "protocol": "api", "received_at": now}
        return [(m.MeterReading, values)], values

    def _dispatch_status(
        self,
        conn: Connection,
        *,
        body: DispatchStatusCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        values = body.model_dump()
        return [(m.DispatchStatus, {**values, "updated_at": now})], values

    # ---- reads ------------------------------------------------------------------------------

    def offers_visible(self, session: m.MarketSession, *, reader: str | None, fsp: str | None):
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
        tables = [m.MessageLog, m.OfferRow, m.FlexRequestRow, m.PrognosisRow, m.MarketSession]
        with Session(self.engine) as db:
            return {
                t.__tablename__: db.exec(select(func.count()).select_from(t)).one()  # type: ignore[attr-defined]
                for t in tables
            }


_BY_PK: dict[Any, Any] = {}
_INSERT: dict[Any, Any] = {}


def _get(conn: Connection, model: Any, pk: Any) -> Any:
    """One row by primary key with SQLAlchemy Core (the ORM costs too much on the hot path)."""
    stmt = _BY_PK.get(model)
    cols = list(model.__table__.primary_key.columns)
    if stmt is None:
        stmt = _BY_PK[model] = select(model.__table__).where(
            *(c == bindparam(f"pk_{c.name}") for c in cols)
        )
    keys = pk if isinstance(pk, tuple) else (pk,)
    params = {f"pk_{c.name}": v for c, v in zip(cols, keys, strict=True)}
    return conn.execute(stmt, params).first()


def _insert(model: Any) -> Any:
    stmt = _INSERT.get(model)
    if stmt is None:
        stmt = _INSERT[model] = insert(model.__table__)
    return stmt


def fast_canonical(body: BaseModel) -> bytes:
    """Canonical JSON of a validated clearing message (strict schema: the C-encoder fast path)."""
    return canonical_json(body.model_dump(mode="python"), schema_checked=True)


def _id_field(kind: str) -> str:
    return {
        "request": "request_id",
        "offer": "offer_id",
        "prognosis": "prognosis_id",
        "session": "session_id",
        "asset": "asset_id",
    }.get(kind, "id")


def session_public(row: m.MarketSession) -> dict[str, Any]:
    """What anyone may see of a session (everything here can be rebuilt from the chain)."""
    return row.model_dump(exclude={"created_at"})


def participant_public(row: m.Participant) -> dict[str, Any]:
    return {
        "address": row.address,
        "name": row.name,
        "roles": [r for r in row.roles.split(",") if r],
        "eic_code": row.eic_code,
        "ean_codes": [c for c in row.ean_codes.split(",") if c],
    }


def asset_public(row: m.Asset) -> dict[str, Any]:
    data = row.model_dump()
    data["asset_id"] = data.pop("id")
    return data


def message_public_json(body_json: str, *, body_hash: str, submitter: str) -> str:
    """``message_public`` as JSON text, built around the stored body without re-encoding it."""
    return f'{{"body":{body_json},"body_hash":"{body_hash}","submitter":"{submitter}"}}'


def message_public(body_json: str, *, body_hash: str, submitter: str) -> dict[str, Any]:
    return {"body": json.loads(body_json), "body_hash": body_hash, "submitter": submitter}
