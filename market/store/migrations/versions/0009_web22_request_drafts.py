"""request drafts of DSO gateways (request_draft) and the DSO's decisions on them
(request_draft_decision)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_draft",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("dso", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("forecast_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_request_draft_session_id", "request_draft", ["session_id"], unique=False)
    op.create_index("ix_request_draft_dso", "request_draft", ["dso"], unique=False)
    op.create_table(
        "request_draft_decision",
        sa.Column("draft_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("dso", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("draft_id"),
    )


def downgrade() -> None:
    op.drop_table("request_draft_decision")
    op.drop_index("ix_request_draft_dso", table_name="request_draft")
    op.drop_index("ix_request_draft_session_id", table_name="request_draft")
    op.drop_table("request_draft")
