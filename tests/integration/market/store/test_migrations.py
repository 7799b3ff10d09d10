"""The migrations alone build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from market.store.db import downgrade, make_engine, upgrade
from market.store.models.clearing_house import metadata as clearing_house_metadata
from market.store.schema import target_metadata

pytestmark = pytest.mark.integration

CH_TABLES = {
    "ch_revenue_contracts",
    "ch_user_contributions",
    "ch_contribution_envelopes",
    "ch_contract_sets",
    "ch_contract_versions",
    "ch_dispute_evidence",
    "ch_dispute_resolutions",
    "ch_periods",
    "ch_period_participants",
}


def _models() -> MetaData:
    combined = MetaData()
    for metadata in target_metadata():
        for table in metadata.sorted_tables:
            table.to_metadata(combined)
    return combined


def test_empty_database_upgraded_to_head_equals_the_models(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        names = set(inspect(engine).get_table_names())
        models = _models()
        assert {t.name for t in models.sorted_tables} | {"alembic_version"} == names
        assert names >= CH_TABLES
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), models)
        assert diff == []
    finally:
        engine.dispose()


def test_0002_adopts_tables_made_by_the_old_ensure_tables(db_url: str) -> None:
    """A store that created the ch_* tables on first use upgrades without error or loss."""
    upgrade(db_url, "0001")
    engine = make_engine(db_url)
    try:
        clearing_house_metadata.create_all(engine)  # what ensure_tables() used to do
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO ch_periods (period, period_id, settlement_json) "
                "VALUES ('p', '0x01', '{}')"
            )
        upgrade(db_url)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT period FROM ch_periods").all()
            assert [r[0] for r in rows] == ["p"]
            assert compare_metadata(MigrationContext.configure(conn), _models()) == []
        downgrade(db_url, "0001")
        assert not CH_TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
