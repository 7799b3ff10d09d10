"""``GET /statements?participant=`` reads the participant's own rows of
``ch_period_participants`` (migration 0012), kept by ``save_period``, on SQLite and PostgreSQL;
the migration fills the table from periods stored before it."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from market.clearing_house import store
from market.store.db import downgrade, make_engine, upgrade
from market.store.models.clearing_house import period_participants

pytestmark = pytest.mark.integration

A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
P1, P2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def _settlement(*who: str) -> str:
    return json.dumps({"statements": {w: {"participant": w} for w in who}})


def _save(engine, period: str, *who: str) -> None:
    store.save_period(
        engine, period=period, period_id="0xp", settlement_json=_settlement(*who), tx_hash=None
    )


def test_statements_route_lists_a_participants_periods_from_the_index(runtime, api) -> None:
    engine = runtime.engine
    _save(engine, P1, A, B)
    _save(engine, P2, B)
    assert store.periods_of(engine, B.upper().replace("0X", "0x")) == [P1, P2]
    assert api.get("/statements", params={"participant": A}).json() == [P1]
    assert api.get("/statements", params={"participant": B}).json() == [P1, P2]
    assert api.get("/statements", params={"participant": C}).json() == []
    assert api.get("/statements").json() == [P1, P2]
    _save(engine, P1, C)  # a period saved again replaces its participants
    assert api.get("/statements", params={"participant": A}).json() == []
    assert api.get("/statements", params={"participant": C}).json() == [P1]
    refused = api.get("/statements", params={"participant": "0x12"})
    assert refused.status_code == 422 and "participant" in refused.text


def test_migration_0012_fills_the_index_from_stored_periods(db_url: str) -> None:
    upgrade(db_url, "0011")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO ch_periods (period, period_id, settlement_json) "
                    "VALUES (:p, '0x01', :body)"
                ),
                [{"p": P1, "body": _settlement(A, B)}, {"p": P2, "body": _settlement()}],
            )
        upgrade(db_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(period_participants)).all()
        assert sorted((r.participant, r.period) for r in rows) == [(A, P1), (B, P1)]
        assert store.periods_of(engine, A) == [P1]
        downgrade(db_url, "0011")
        assert "ch_period_participants" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
