"""the contributions and envelopes a netting nets, frozen before its bundle is published

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:40:00

Why: the netting read the contributions, then the envelopes, then published its write-once
bundle and only then recorded its intent (which refuses later posts). A post in between was
accepted and left out of the netting, or, after a failure before the intent, made the re-run's
bundle differ from the published one, blocking the session's netting for good. The row is the
snapshot, taken under the session's lock (shared with the contributions post).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ch_netting_inputs" in sa.inspect(op.get_bind()).get_table_names():
        return  # made from the models' metadata (e.g. the clearing house's create_all)
    op.create_table(
        "ch_netting_inputs",
        sa.Column("period", sa.String(length=64), nullable=False),
        sa.Column("contributions_json", sa.Text(), nullable=False),
        sa.Column("envelopes_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("period"),
    )


def downgrade() -> None:
    op.drop_table("ch_netting_inputs")
