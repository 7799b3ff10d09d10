"""Row access on the write path with SQLAlchemy Core (the ORM costs too much there)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Row, Select, bindparam, insert, select
from sqlalchemy.engine import Connection

_BY_PK: dict[Any, Select[Any]] = {}
_INSERT: dict[Any, Insert] = {}


def get_row(conn: Connection, model: Any, pk: Any) -> Row[Any] | None:
    """One row of ``model``'s table by primary key (a tuple for composite keys)."""
    cols = list(model.__table__.primary_key.columns)
    stmt = _BY_PK.get(model)
    if stmt is None:
        stmt = _BY_PK[model] = select(model.__table__).where(
            *(c == bindparam(f"pk_{c.name}") for c in cols)
        )
    keys = pk if isinstance(pk, tuple) else (pk,)
    params = {f"pk_{c.name}": v for c, v in zip(cols, keys, strict=True)}
    return conn.execute(stmt, params).first()


def insert_into(model: Any) -> Insert:
    """The (cached) INSERT statement of ``model``'s table."""
    stmt = _INSERT.get(model)
    if stmt is None:
        stmt = _INSERT[model] = insert(model.__table__)
    return stmt
