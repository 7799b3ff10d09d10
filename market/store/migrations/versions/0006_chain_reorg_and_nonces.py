"""indexer block hashes and undo journal (reorgs), and one shared nonce per signing key

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indexer_block",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("block_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("stream", "number"),
    )
    op.create_table(
        "indexer_undo",
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("before_json", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("table_name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("row_key", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "chain_nonce",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "address"),
    )


def downgrade() -> None:
    op.drop_table("chain_nonce")
    op.drop_table("indexer_undo")
    op.drop_table("indexer_block")
