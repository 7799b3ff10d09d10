"""the FSPs' signed envelopes of user contributions (ch_contribution_envelopes) and every
revenue-sharing contract set an FSP has had (ch_contract_versions, ch_contract_sets)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 04:20:00

Why: the store kept only the rows of ``POST /clearing-house/contributions``, so the netting
bundle could not show that the FSP signed them; the envelope (one per session and FSP, the
latest post) is kept and published with the netting. An FSP commits the root of its contract
set with its offers; the service keeps each set the FSP's contracts have formed, so it finds
the committed one (and its signed contracts) after a later contract was posted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    made = sa.inspect(op.get_bind()).get_table_names()  # the old ensure_tables() made some
    if "ch_contract_versions" not in made:
        op.create_table(
            "ch_contract_versions",
            sa.Column("fsp", sa.String(length=42), nullable=False),
            sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("contract_id", sa.String(length=64), nullable=False),
            sa.Column("body_json", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("fsp", "seq"),
        )
    if "ch_contract_sets" not in made:
        op.create_table(
            "ch_contract_sets",
            sa.Column("fsp", sa.String(length=42), nullable=False),
            sa.Column("set_root", sa.String(length=66), nullable=False),
            sa.Column("upto_seq", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("fsp", "set_root"),
        )
    if "ch_contribution_envelopes" in made:
        return
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
    op.drop_table("ch_contract_sets")
    op.drop_table("ch_contract_versions")
