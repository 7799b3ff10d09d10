"""market event log (market_event) and FSP dispatch acknowledgements (dispatch_ack)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("fsp", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_market_event_session_id", "market_event", ["session_id"], unique=False)
    op.create_table(
        "dispatch_ack",
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("fsp", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("acked_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_dispatch_ack_session_id", "dispatch_ack", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dispatch_ack_session_id", table_name="dispatch_ack")
    op.drop_table("dispatch_ack")
    op.drop_index("ix_market_event_session_id", table_name="market_event")
    op.drop_table("market_event")
