"""the CPOs' signed readings digests (readings_digests), per session, station and ISP

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "readings_digest",
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("station", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("isp_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("cpo", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("digest_json", sa.Text(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "station", "isp_start"),
    )
    op.create_index("ix_readings_digest_cpo", "readings_digest", ["cpo"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_readings_digest_cpo", table_name="readings_digest")
    op.drop_table("readings_digest")
