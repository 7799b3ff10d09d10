"""the UFTP proof kept beside a market offer (published in the session's uftp bundle)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uftp_offer_proof",
        sa.Column("proof_json", sa.Text(), nullable=False),
        sa.Column("offer_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.PrimaryKeyConstraint("offer_id"),
    )
    op.create_index(
        op.f("ix_uftp_offer_proof_session_id"), "uftp_offer_proof", ["session_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_uftp_offer_proof_session_id"), table_name="uftp_offer_proof")
    op.drop_table("uftp_offer_proof")
