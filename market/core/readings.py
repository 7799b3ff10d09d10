"""What a posted meter reading must prove before it is stored.

Why refuse at the door: verification excludes an unsigned, forged or stray reading without a
word to the poster, and the FSP is paid 0 without knowing why. So ``POST /meter-readings``
checks here what verification would check, and answers a problem naming the field and the
reason; nothing is stored for a refused reading. A reading already stored with the same
registers is answered again (idempotent); one with other registers is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection

from clearing.settlement.compute import required_reading_window
from clearing.settlement.meter import reading_from_signed_payload, recover_reading_signer
from clearing.settlement.rules import SettlementRules
from clearing.trust import station_address
from market.errors import Conflict, Forbidden, InvalidMessage
from market.store import models as m
from market.store.models import MeterReadingCreate

#: Roles that post readings of any registered station; an FSP posts only its own stations'.
METER_POSTERS = frozenset({"METER_ORACLE", "MARKET_OPERATOR"})
_SIGNED_FIELDS = ("station_id", "evse_id", "timestamp", "import_wh", "export_wh")


@dataclass(frozen=True)
class ReadingRules:
    """How far around a session's delivery a reading may lie, and how far ahead of our clock.

    ``before_s``: baseline history plus one gap (what the settlement loads before delivery);
    ``after_s``: the meter grace (readings may still arrive until the worker verifies);
    ``clock_skew_s``: a station clock this far ahead of ours is tolerated.
    """

    before_s: int = 900
    after_s: int = 900
    clock_skew_s: int = 60

    @classmethod
    def of(cls, rules: SettlementRules, *, meter_grace_s: int, clock_skew_s: int) -> ReadingRules:
        """The window the settlement under ``rules`` reads, widened to the meter grace."""
        lo, hi = required_reading_window(rules, 0, 0)
        return cls(before_s=-lo, after_s=max(hi, meter_grace_s), clock_skew_s=clock_skew_s)


def check_reading(
    conn: Connection,
    body: MeterReadingCreate,
    *,
    signer: str,
    roles: frozenset[str],
    now: int,
    rules: ReadingRules,
) -> Row[Any] | None:
    """Raise the problem that refuses ``body``; return the stored twin of a duplicate."""
    _signed(body)
    # who may post for this EVSE first (403/422 on the station), then the reading itself
    registered = _station_key(conn, body, signer=signer, roles=roles)
    if body.timestamp > now + rules.clock_skew_s:
        raise InvalidMessage(
            f"{body.timestamp - now} s in the future (now {now}; clock skew allowance "
            f"{rules.clock_skew_s} s)",
            field="body.timestamp",
        )
    _in_some_session(conn, body.timestamp, rules)
    _signature_verifies(body, registered)
    return _stored_twin(conn, body)


def reading_answer(row: Row[Any]) -> dict[str, Any]:
    """The answer to a reading as stored (the same for its duplicates)."""
    keys = (*MeterReadingCreate.model_fields, "protocol", "received_at")
    return {k: getattr(row, k) for k in keys}


def _signed(body: MeterReadingCreate) -> None:
    for name in ("signed_data", "signature", "public_key"):
        if not getattr(body, name):
            raise InvalidMessage(
                "unsigned reading: signed_data, signature and public_key of the station's "
                "meter are required",
                field=f"body.{name}",
            )


def _in_some_session(conn: Connection, ts: int, rules: ReadingRules) -> None:
    """Sessions span every congestion point, so any session's delivery window will do."""
    s = m.MarketSession.__table__  # type: ignore[attr-defined]
    hit = conn.execute(
        select(s.c.id)
        .where(s.c.delivery_start - rules.before_s <= ts, s.c.delivery_end + rules.after_s >= ts)
        .limit(1)
    ).first()
    if hit is None:
        raise InvalidMessage(
            f"{ts} is outside every session's delivery window (allowing {rules.before_s} s "
            f"before and {rules.after_s} s after delivery)",
            field="body.timestamp",
        )


def _station_key(
    conn: Connection, body: MeterReadingCreate, *, signer: str, roles: frozenset[str]
) -> str:
    """The station's registered meter address, if the poster may post this EVSE's readings."""
    a = m.Asset.__table__  # type: ignore[attr-defined]
    assets = conn.execute(
        select(a.c.owner, a.c.meter_public_key).where(
            a.c.station_id == body.station_id, a.c.evse_id == body.evse_id
        )
    ).all()
    where = f"EVSE {body.evse_id} of station {body.station_id}"
    if not roles & METER_POSTERS:  # an FSP: its own portfolio only
        if not any(r.owner.lower() == signer for r in assets):
            raise Forbidden(f"{where} is not in your portfolio", field="body.station_id")
    elif not assets:
        raise InvalidMessage(f"{where} is not registered by any FSP", field="body.station_id")
    keys = {r.meter_public_key for r in assets if r.meter_public_key}
    if not keys:
        raise InvalidMessage(f"{where} has no registered meter key", field="body.station_id")
    registered = station_address(sorted(keys)[0])
    try:
        claimed = station_address(body.public_key or "")
    except ValueError as exc:
        raise InvalidMessage(str(exc), field="body.public_key") from None
    if claimed != registered:
        raise InvalidMessage(
            f"{claimed} is not the meter key registered for {where}", field="body.public_key"
        )
    return registered


def _signature_verifies(body: MeterReadingCreate, registered: str) -> None:
    try:
        signed = reading_from_signed_payload(body.signed_data or "", body.signature or "")
    except ValueError as exc:
        raise InvalidMessage(
            str(exc).removeprefix("signed_data: "), field="body.signed_data"
        ) from None
    claimed = (signed.station, signed.evse, signed.timestamp, signed.import_wh, signed.export_wh)
    for name, value in zip(_SIGNED_FIELDS, claimed, strict=True):
        if getattr(body, name) != value:
            raise InvalidMessage(
                f"differs from what the meter signed ({value})", field=f"body.{name}"
            )
    recovered = recover_reading_signer(signed)
    if recovered != registered:
        raise InvalidMessage(
            f"does not verify: it recovers to {recovered or 'no address'}, not the station's "
            f"meter key {registered}",
            field="body.signature",
        )


def _stored_twin(conn: Connection, body: MeterReadingCreate) -> Row[Any] | None:
    r = m.MeterReading.__table__
    rows = conn.execute(
        select(r).where(
            r.c.station_id == body.station_id,
            r.c.evse_id == body.evse_id,
            r.c.timestamp == body.timestamp,
        )
    ).all()
    for row in rows:
        if (row.import_wh, row.export_wh) != (body.import_wh, body.export_wh):
            raise Conflict(
                f"a reading of {body.station_id}/{body.evse_id} at {body.timestamp} is stored "
                f"with other registers (import {row.import_wh} Wh, export {row.export_wh} Wh)",
                field="body.import_wh",
            )
    return rows[0] if rows else None
