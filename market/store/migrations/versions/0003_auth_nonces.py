"""one-time SIWE nonces and revoked session tokens (auth_nonce, auth_revoked_token)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_nonce",
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("consumed_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_auth_nonce_expires_at", "auth_nonce", ["expires_at"], unique=False)
    op.create_table(
        "auth_revoked_token",
        sa.Column("jti", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index(
        "ix_auth_revoked_token_expires_at", "auth_revoked_token", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_auth_revoked_token_expires_at", table_name="auth_revoked_token")
    op.drop_table("auth_revoked_token")
    op.drop_index("ix_auth_nonce_expires_at", table_name="auth_nonce")
    op.drop_table("auth_nonce")
