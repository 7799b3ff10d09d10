"""what each netting's statements start from, recorded before its first transaction

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:10:00

Why: ``settle_session`` repays stale receivables and then sends ``settleNetting``; a crash
between the two lost the statement's ``brought_forward`` and ``repaid`` lines (the next run
read the chain after the repayment). The row records the receivables brought forward and the
block the netting's transactions start from, so a re-run rebuilds every line from the chain.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ch_netting_intents" in sa.inspect(op.get_bind()).get_table_names():
        return  # made from the models' metadata (e.g. the clearing house's create_all)
    op.create_table(
        "ch_netting_intents",
        sa.Column("period", sa.String(length=64), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("brought_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("period"),
    )


def downgrade() -> None:
    op.drop_table("ch_netting_intents")
