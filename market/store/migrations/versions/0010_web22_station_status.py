"""stations' OCPP status as their FSP's gateway reports it (station_status, append-only)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fsp", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("station_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("last_seen_unix", sa.BigInteger(), nullable=True),
        sa.Column("setpoint_w", sa.BigInteger(), nullable=True),
        sa.Column("reported_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_station_status_fsp", "station_status", ["fsp"], unique=False)
    op.create_index("ix_station_status_station_id", "station_status", ["station_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_station_status_station_id", table_name="station_status")
    op.drop_index("ix_station_status_fsp", table_name="station_status")
    op.drop_table("station_status")
