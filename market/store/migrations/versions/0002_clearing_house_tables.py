"""clearing-house tables (ch_*), formerly created on first use by ensure_tables()

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 19:20:00

A database that ran the older code already holds these tables (made by ensure_tables with the
same definitions), so each one is created only when missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return name not in sa.inspect(op.get_bind()).get_table_names()


def upgrade() -> None:
    if _missing("ch_revenue_contracts"):
        op.create_table(
            "ch_revenue_contracts",
            sa.Column("contract_id", sa.String(length=64), nullable=False),
            sa.Column("fsp", sa.String(length=42), nullable=False),
            sa.Column("ev_user", sa.String(length=42), nullable=False),
            sa.Column("body_json", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("contract_id"),
        )
        op.create_index(
            "ix_ch_revenue_contracts_fsp", "ch_revenue_contracts", ["fsp"], unique=False
        )
        op.create_index(
            "ix_ch_revenue_contracts_ev_user", "ch_revenue_contracts", ["ev_user"], unique=False
        )
    if _missing("ch_user_contributions"):
        op.create_table(
            "ch_user_contributions",
            sa.Column("session_id", sa.String(length=36), nullable=False),
            sa.Column("fsp", sa.String(length=42), nullable=False),
            sa.Column("ev_user", sa.String(length=42), nullable=False),
            sa.Column("shifted_wh", sa.BigInteger(), nullable=False),
            sa.Column("discharged_wh", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("session_id", "fsp", "ev_user"),
        )
    if _missing("ch_dispute_evidence"):
        op.create_table(
            "ch_dispute_evidence",
            sa.Column("message_id", sa.String(length=64), nullable=False),
            sa.Column("session_id", sa.String(length=36), nullable=False),
            sa.Column("submitter", sa.String(length=42), nullable=False),
            sa.Column("body_json", sa.Text(), nullable=False),
            sa.Column("received_at", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("message_id"),
        )
        op.create_index(
            "ix_ch_dispute_evidence_session_id",
            "ch_dispute_evidence",
            ["session_id"],
            unique=False,
        )
    if _missing("ch_dispute_resolutions"):
        op.create_table(
            "ch_dispute_resolutions",
            sa.Column("session_id", sa.String(length=36), nullable=False),
            sa.Column("corrected_root", sa.String(length=66), nullable=False),
            sa.Column("bundle", sa.LargeBinary(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=True),
            sa.PrimaryKeyConstraint("session_id"),
        )
    if _missing("ch_periods"):
        op.create_table(
            "ch_periods",
            sa.Column("period", sa.String(length=64), nullable=False),
            sa.Column("period_id", sa.String(length=66), nullable=False),
            sa.Column("settlement_json", sa.Text(), nullable=False),
            sa.Column("tx_hash", sa.String(length=66), nullable=True),
            sa.PrimaryKeyConstraint("period"),
        )


def downgrade() -> None:
    op.drop_table("ch_periods")
    op.drop_table("ch_dispute_resolutions")
    op.drop_index("ix_ch_dispute_evidence_session_id", table_name="ch_dispute_evidence")
    op.drop_table("ch_dispute_evidence")
    op.drop_table("ch_user_contributions")
    op.drop_index("ix_ch_revenue_contracts_ev_user", table_name="ch_revenue_contracts")
    op.drop_index("ix_ch_revenue_contracts_fsp", table_name="ch_revenue_contracts")
    op.drop_table("ch_revenue_contracts")
