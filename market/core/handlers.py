"""The per-kind rules of the write pipeline, and the checks they share.

Each handler validates one signed body against the store (session open, point known, ids
free, ...) and returns the rows to insert with the response; the pipeline in ``market_core``
stores them in one transaction with the message log row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import select

from clearing.encoding import hex32, keccak256, uuid_to_bytes32
from clearing.messages import DPrognosis, FlexOffer, FlexRequest
from market.core.encoding import fast_canonical
from market.core.kinds import BEFORE_CLOSURE, Handled
from market.core.readings import ReadingRules, check_reading, reading_answer
from market.core.rows import get_row
from market.core.session_policy import DsoSessionPolicy, check_dso_session
from market.errors import (
    Conflict,
    Forbidden,
    GateClosed,
    InvalidMessage,
    NotFound,
    UnknownCongestionPoint,
    WrongSessionState,
)
from market.roles import RoleCache
from market.store import models as m
from market.store.models import (
    AssetCreate,
    AssetPublic,
    CongestionPointCreate,
    DispatchAckCreate,
    DispatchStatusCreate,
    MeterReadingCreate,
    ParticipantCreate,
    ParticipantPublic,
    SessionCreate,
    SessionPublic,
)
from market.store.models.signed_message import message_public_json

SESSION_CACHE_S = 1.0
#: Orders exist from CLEARED on; once delivery is verified, taking one over means nothing.
ACKABLE_STATES = ("CLEARED", "DELIVERING")


class KindHandlers:
    """Mixed into MarketCore: the handlers read its engine, role cache and small caches."""

    engine: Engine
    roles: RoleCache
    request_escrow_check: Callable[[FlexRequest, str], None] | None
    station_check: Callable[[str, str | None, str], str] | None
    reading_rules: ReadingRules
    dso_sessions: DsoSessionPolicy
    _session_cache: dict[str, tuple[float, Any]]
    _known_points: set[str]

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
        row = get_row(conn, m.MarketSession, session_id)
        if row is not None:
            self._session_cache[session_id] = (mono, row)
        return row

    def _known_point(
        self, conn: Connection, code: str, field_path: str = "body.congestion_point"
    ) -> None:
        if code in self._known_points:
            return
        if get_row(conn, m.CongestionPoint, code) is None:
            raise UnknownCongestionPoint(
                f"congestion point {code!r} is not registered", field=field_path
            )
        self._known_points.add(code)  # points are never deleted

    def _committed_point(
        self,
        conn: Connection,
        session_id: str,
        code: str,
        field_path: str = "body.congestion_point",
    ) -> None:
        """A point registered after the session fixed its terms is not part of its grid: a
        request, prognosis or offer there could never be cleared, so it is refused now."""
        cache: dict[str, frozenset[str]] = self.__dict__.setdefault("_terms_points", {})
        points = cache.get(session_id)
        if points is None:
            row = get_row(conn, m.BundleRecord, (session_id, "terms"))
            if row is None:  # not opened yet (the open step takes every registered point)
                return
            content = json.loads(row.content)
            points = cache[session_id] = frozenset(c["code"] for c in content["congestion_points"])
        if code not in points:
            raise UnknownCongestionPoint(
                f"congestion point {code!r} is not in the terms session {session_id} "
                "committed when it opened (it was registered later)",
                field=field_path,
            )

    @staticmethod
    def _isps_in_session(session: Any, items: Any, field_path: str) -> None:
        count = (session.delivery_end - session.delivery_start) // session.isp_s
        for j, item in enumerate(items):
            if item.isp_index >= count:
                raise InvalidMessage(
                    f"ISP {item.isp_index} outside the session (0..{count - 1})",
                    field=f"{field_path}[{j}].isp_index",
                )

    def _request_fits(
        self, conn: Connection, req: FlexRequest, point_field: str, direction_field: str
    ) -> None:
        """What a request must satisfy against the session's other facts: its point is in the
        committed terms, and no other live request asks for the same point and direction.
        Drafts are checked with it too, so an approved draft (escrowed first) can be posted."""
        self._committed_point(conn, req.session_id, req.congestion_point, point_field)
        table = m.FlexRequestRow.__table__  # type: ignore[attr-defined]
        clash = conn.execute(
            select(table.c.id).where(
                table.c.session_id == req.session_id,
                table.c.congestion_point == req.congestion_point,
                table.c.direction == req.direction,
                table.c.cancelled == False,  # noqa: E712
            )
        ).first()
        if clash is not None and clash.id != req.request_id:
            raise Conflict(
                f"request {clash.id} already asks for {req.direction} at "
                f"{req.congestion_point}; one request per point and direction",
                field=direction_field,
            )

    @staticmethod
    def _own(address: str, signer: str, field_path: str) -> None:
        if address.lower() != signer:
            raise Forbidden(f"{address} is not the signer {signer}", field=field_path)

    # ---- per-kind handlers: return ([(table model, values)], response) ----------------------

    def _session(
        self, conn: Connection, *, body: SessionCreate, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        if get_row(conn, m.MarketSession, body.session_id) is not None:
            raise Conflict("session id already exists", field="body.session_id")
        if body.gate_closure <= now:
            raise InvalidMessage(f"must be after now ({now})", field="body.gate_closure")
        if "MARKET_OPERATOR" not in roles:
            check_dso_session(self.dso_sessions, body, now)
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
        event = m.event_values("session_state", body.session_id, {"state": "PENDING"})
        rows = [(m.MarketSession, row.model_dump()), (m.MarketEvent, event)]
        return rows, SessionPublic.from_row(row).model_dump()

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
        # One upsert, not check-then-insert: the worker's indexer stores a row for each
        # on-chain ParticipantRegistered and may commit it between a check and an insert.
        table = m.Participant.__table__  # type: ignore[attr-defined]
        insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
        conn.execute(
            insert(table)
            .values(values)
            .on_conflict_do_update(
                index_elements=[table.c.address],
                set_={k: v for k, v in values.items() if k not in ("address", "created_at")},
            )
        )
        return [], ParticipantPublic.from_row(m.Participant.model_validate(values)).model_dump()

    def _congestion_point(
        self,
        conn: Connection,
        *,
        body: CongestionPointCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        if get_row(conn, m.CongestionPoint, body.code) is not None:
            raise Conflict("congestion point already registered", field="body.code")
        if body.parent_code is not None:
            self._known_point(conn, body.parent_code, "body.parent_code")
        values = body.model_dump()
        return [(m.CongestionPoint, values)], values

    def _asset(
        self, conn: Connection, *, body: AssetCreate, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        self._known_point(conn, body.congestion_point)
        if get_row(conn, m.Asset, body.asset_id) is not None:
            raise Conflict("asset id already exists", field="body.asset_id")
        if self.station_check is not None:  # the CPO's on-chain grant and key decide
            key = self.station_check(body.station_id, body.meter_public_key, signer)
            body = body.model_copy(update={"meter_public_key": key})
        self._station_unclaimed(conn, body, signer)
        data = body.model_dump()
        values = {"id": data.pop("asset_id"), "owner": signer, **data}
        return [(m.Asset, values)], AssetPublic.from_row(
            m.Asset.model_validate(values)
        ).model_dump()

    @staticmethod
    def _station_unclaimed(conn: Connection, body: AssetCreate, signer: str) -> None:
        """An EVSE belongs to the FSP that registered it first, and a station keeps the meter
        key it was first registered with: another FSP cannot claim the EVSE, and nobody can
        swap the key by registering again (with a chain, the key is the CPO's on-chain one,
        ``Ledger.check_station_grant``). Other EVSEs of a shared public station stay open to
        other FSPs."""
        table = m.Asset.__table__  # type: ignore[attr-defined]
        for row in conn.execute(
            select(table.c.owner, table.c.evse_id, table.c.meter_public_key).where(
                table.c.station_id == body.station_id
            )
        ):
            if row.evse_id == body.evse_id and row.owner.lower() != signer.lower():
                raise Conflict(
                    f"EVSE {body.evse_id} of station {body.station_id} is registered by "
                    "another FSP",
                    field="body.station_id",
                )
            if (row.meter_public_key or "").lower() != (body.meter_public_key or "").lower():
                raise Conflict(
                    f"station {body.station_id} is registered with another meter key; "
                    "a meter key cannot be changed by registering again",
                    field="body.meter_public_key",
                )

    def _request(
        self, conn: Connection, *, body: FlexRequest, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        session = self._session_before_gate(conn, body.session_id, now)
        session = get_row(conn, m.MarketSession, body.session_id)  # fresh: state matters here
        if session is None or session.state != "OPEN":
            raise WrongSessionState(
                "session is not open on-chain yet; escrow cannot be posted", field="body.session_id"
            )
        self._known_point(conn, body.congestion_point)
        self._isps_in_session(session, body.isps, "body.isps")
        self._request_fits(conn, body, "body.congestion_point", "body.direction")
        if self.request_escrow_check is not None:
            self.request_escrow_check(body, signer)
        canonical = body.to_canonical()
        body_json, body_hash = canonical.decode(), hex32(keccak256(canonical))
        values = {
            "id": body.request_id,
            "session_id": body.session_id,
            "dso": signer,
            "congestion_point": body.congestion_point,
            "direction": body.direction,
            "budget_units": body.budget_units,
            "body_json": body_json,
            "body_hash": body_hash,
            "message_id": "",
            "cancelled": False,
        }
        return [(m.FlexRequestRow, values)], message_public_json(
            body_json, body_hash=body_hash, submitter=signer
        )

    def _prognosis(
        self, conn: Connection, *, body: DPrognosis, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        self._own(body.fsp, signer, "body.fsp")
        session = self._session_before_gate(conn, body.session_id, now)
        self._known_point(conn, body.congestion_point)
        self._committed_point(conn, body.session_id, body.congestion_point)
        self._isps_in_session(session, body.isps, "body.isps")
        canonical = fast_canonical(body)
        body_json, body_hash = canonical.decode(), hex32(keccak256(canonical))
        values = {
            "id": body.prognosis_id,
            "session_id": body.session_id,
            "fsp": signer,
            "congestion_point": body.congestion_point,
            "body_json": body_json,
            "body_hash": body_hash,
            "message_id": "",
        }
        return [(m.PrognosisRow, values)], message_public_json(
            body_json, body_hash=body_hash, submitter=signer
        )

    def _offer(
        self, conn: Connection, *, body: FlexOffer, signer: str, roles: frozenset[str], now: int
    ) -> Handled:
        self._own(body.fsp, signer, "body.fsp")
        session = self._session_before_gate(conn, body.session_id, now)
        self._known_point(conn, body.congestion_point)
        self._committed_point(conn, body.session_id, body.congestion_point)
        for k, option in enumerate(body.options):
            self._isps_in_session(session, option.isps, f"body.options[{k}].isps")
            self._isps_in_session(session, option.rebound, f"body.options[{k}].rebound")
        if body.request_id is not None:
            req = get_row(conn, m.FlexRequestRow, body.request_id)
            if req is None or req.session_id != body.session_id:
                raise NotFound(
                    f"no request {body.request_id} in this session", field="body.request_id"
                )
            if req.direction != body.direction:
                raise InvalidMessage(
                    f"differs from its request ({req.direction})", field="body.direction"
                )
        if body.baseline_ref is not None:
            prog = get_row(conn, m.PrognosisRow, body.baseline_ref)
            if prog is None or prog.session_id != body.session_id or prog.fsp != signer:
                raise NotFound(
                    f"no prognosis {body.baseline_ref} of yours in this session",
                    field="body.baseline_ref",
                )
        canonical = fast_canonical(body)
        body_json, body_hash = canonical.decode(), hex32(keccak256(canonical))
        values = {
            "id": body.offer_id,
            "session_id": body.session_id,
            "fsp": signer,
            "congestion_point": body.congestion_point,
            "request_id": body.request_id,
            "body_json": body_json,
            "body_hash": body_hash,
            "message_id": "",
            "created_at": now,
        }
        return [(m.OfferRow, values)], message_public_json(
            body_json, body_hash=body_hash, submitter=signer
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
        twin = check_reading(
            conn, body, signer=signer, roles=roles, now=now, rules=self.reading_rules
        )
        if twin is not None:  # the same reading again: the same answer, stored once
            return [], reading_answer(twin)
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

    def _dispatch_ack(
        self,
        conn: Connection,
        *,
        body: DispatchAckCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        """An FSP takes over its own orders of a cleared session; repeats are no-ops."""
        session = get_row(conn, m.MarketSession, body.session_id)
        if session is None:
            raise NotFound(f"no session {body.session_id}", field="body.session_id")
        if session.state not in ACKABLE_STATES:
            raise WrongSessionState(
                f"session {body.session_id} is {session.state}; orders are acknowledged "
                f"in {' or '.join(ACKABLE_STATES)}",
                field="body.session_id",
            )
        rows: list[tuple[Any, dict[str, Any]]] = []
        acked: list[str] = []
        seen: set[str] = set()
        for j, order_id in enumerate(body.order_ids):
            where = f"body.order_ids[{j}]"
            if order_id in seen:
                raise InvalidMessage("order listed twice", field=where)
            seen.add(order_id)
            order = get_row(conn, m.OrderRow, order_id)
            if order is None or order.session_id != body.session_id:
                raise NotFound(f"no order {order_id} in session {body.session_id}", field=where)
            if order.fsp.lower() != signer:
                reason = f"order {order_id} belongs to {order.fsp}, not {signer}"
                raise Forbidden(reason, field=where)
            if get_row(conn, m.DispatchAck, order_id) is None:
                values = {
                    "order_id": order_id,
                    "session_id": body.session_id,
                    "fsp": signer,
                    "acked_at": now,
                }
                rows.append((m.DispatchAck, values))
                acked.append(order_id)
        if acked:
            data = {"fsp": signer, "order_ids": acked}
            rows.append((m.MarketEvent, m.event_values("dispatch_ack", body.session_id, data)))
        response = {"session_id": body.session_id, "fsp": signer, "acknowledged": acked}
        return rows, response
