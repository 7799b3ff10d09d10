"""EV charging needs received by the CSMS (ev_charging_needs)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ev_charging_needs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("requested_energy_transfer", sa.String(length=32), nullable=False),
        sa.Column("departure_unix", sa.BigInteger(), nullable=True),
        sa.Column("energy_amount_wh", sa.BigInteger(), nullable=True),
        sa.Column("min_charge_power_w", sa.BigInteger(), nullable=True),
        sa.Column("max_charge_power_w", sa.BigInteger(), nullable=True),
        sa.Column("min_discharge_power_w", sa.BigInteger(), nullable=True),
        sa.Column("max_discharge_power_w", sa.BigInteger(), nullable=True),
        sa.Column("target_soc_pct", sa.Integer(), nullable=True),
        sa.Column("control_mode", sa.String(length=32), nullable=True),
        sa.Column("mobility_needs_mode", sa.String(length=32), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_ev_charging_needs_station_evse",
        "ev_charging_needs",
        ["station_id", "evse_id", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_ev_charging_needs_station_evse", table_name="ev_charging_needs")
    op.drop_table("ev_charging_needs")
