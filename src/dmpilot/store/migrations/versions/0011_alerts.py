"""Alerts: one row per incident, with its cool-down.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("contact_id", Id),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("last_sent_at", sa.DateTime, nullable=False),
        sa.Column("next_at", sa.DateTime, nullable=False),
        sa.Column("mark", Id),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("summary", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_alerts"),
    )
    op.create_index("ix_alerts_last_sent_at", "alerts", ["last_sent_at"], unique=False)
    op.create_index("ix_alerts_resolved_at", "alerts", ["resolved_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alerts_resolved_at", "alerts")
    op.drop_index("ix_alerts_last_sent_at", "alerts")
    op.drop_table("alerts")
