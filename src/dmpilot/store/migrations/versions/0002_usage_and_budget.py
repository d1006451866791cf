"""Model usage per reply, and the daily budget of new conversations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

USAGE_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "brain_ms",
    "attempts",
)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("model", sa.String(64)))
        for name in USAGE_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer))
    op.create_table(
        "daily_budget",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("engaged", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_daily_budget"),
    )


def downgrade() -> None:
    op.drop_table("daily_budget")
    with op.batch_alter_table("messages") as batch:
        for name in (*USAGE_COLUMNS, "model"):
            batch.drop_column(name)
