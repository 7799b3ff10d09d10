"""the FSPs' signed envelopes of user contributions (ch_contribution_envelopes)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 04:20:00

Why: the store kept only the rows of ``POST /clearing-house/contributions``, so the netting
bundle could not show that the FSP signed them; the envelope (one per session and FSP, the
latest post) is kept and published with the netting.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ch_contribution_envelopes" in sa.inspect(op.get_bind()).get_table_names():
        return  # made from the models' metadata (a store the old ensure_tables() created)
    op.create_table(
        "ch_contribution_envelopes",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("fsp", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("envelope_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "fsp"),
    )


def downgrade() -> None:
    op.drop_table("ch_contribution_envelopes")
