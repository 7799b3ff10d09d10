"""who has a statement in which netted period (ch_period_participants), filled from ch_periods

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 01:00:00

Why: ``GET /statements?participant=`` read every stored period's settlement JSON per request;
this table answers it from one participant's rows (its primary key starts with the
participant). The upgrade fills it from the periods already stored.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if "ch_period_participants" in sa.inspect(bind).get_table_names():
        # made from the models' metadata (e.g. the clearing house's create_all): filled below
        # only while empty, so periods stored before it are listed too
        table = sa.Table("ch_period_participants", sa.MetaData(), autoload_with=bind)
        if bind.execute(sa.select(sa.func.count()).select_from(table)).scalar():
            return
    else:
        made = op.create_table(
            "ch_period_participants",
            sa.Column("participant", sa.String(length=42), nullable=False),
            sa.Column("period", sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint("participant", "period"),
        )
        assert made is not None
        table = made
    if "ch_periods" not in sa.inspect(bind).get_table_names():
        return
    stored = op.get_bind().execute(sa.text("SELECT period, settlement_json FROM ch_periods"))
    rows = [
        {"participant": who, "period": period}
        for period, body in stored
        for who in sorted(json.loads(body).get("statements", {}))
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("ch_period_participants")
