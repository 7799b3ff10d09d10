"""FSP-signed offer commitments the operator relays (commitOffersBySig)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_commitment",
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("fsp", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("offers_root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("offer_count", sa.BigInteger(), nullable=False),
        sa.Column("prognosis_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("portfolio_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=132), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("relay_tx", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.PrimaryKeyConstraint("session_id", "fsp"),
    )


def downgrade() -> None:
    op.drop_table("relay_commitment")
