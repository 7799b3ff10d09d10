"""Stations' OCPP status as their FSP's gateway reports it (kind ``station_status``), and the
latest status per station that ``/fsp`` shows.

Why only registered stations: a status names a station; letting an FSP report one it did not
register (as an asset) would let it claim or mask another FSP's chargers on the desk.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from market.core.handlers import KindHandlers
from market.core.kinds import Handled
from market.errors import Forbidden, InvalidMessage
from market.store import models as m
from market.store.models import StationStatusCreate, StationStatusPublic


class StationHandlers(KindHandlers):
    """Mixed into MarketCore: the ``station_status`` kind."""

    def _station_status(
        self,
        conn: Connection,
        *,
        body: StationStatusCreate,
        signer: str,
        roles: frozenset[str],
        now: int,
    ) -> Handled:
        ids = [s.station_id for s in body.stations]
        asset = m.Asset.__table__  # type: ignore[attr-defined]
        owned = {
            r.station_id
            for r in conn.execute(
                sa.select(asset.c.station_id).where(
                    asset.c.owner == signer, asset.c.station_id.in_(ids)
                )
            )
        }
        seen: set[str] = set()
        rows: list[tuple[Any, dict[str, Any]]] = []
        for j, item in enumerate(body.stations):
            where = f"body.stations[{j}].station_id"
            if item.station_id in seen:
                raise InvalidMessage("station listed twice", field=where)
            seen.add(item.station_id)
            if item.station_id not in owned:
                raise Forbidden(
                    f"{signer} registered no asset at station {item.station_id!r}; an FSP "
                    "reports the status of its own stations only",
                    field=where,
                )
            rows.append((m.StationStatus, {**item.model_dump(), "fsp": signer, "reported_at": now}))
        data = {"fsp": signer, "stations": sorted(seen)}
        rows.append((m.MarketEvent, m.event_values("station_status", m.MARKET_WIDE, data)))
        return rows, {"fsp": signer, "stations": len(seen), "reported_at": now}


def latest_station_status(engine: Engine, fsp: str | None = None) -> list[StationStatusPublic]:
    """The newest report of each (FSP, station), by station id."""
    table = m.StationStatus.__table__  # type: ignore[attr-defined]
    newest = sa.select(sa.func.max(table.c.id)).group_by(table.c.fsp, table.c.station_id)
    query = sa.select(table).where(table.c.id.in_(newest))
    if fsp:
        query = query.where(table.c.fsp == fsp.lower())
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(table.c.station_id, table.c.fsp)).all()
    return [StationStatusPublic.model_validate(r._asdict()) for r in rows]
