"""A contact's data: forgotten contacts' tombstones and message retention.

The `privacy` row (the tombstones' salt, the retention chore's progress) is written on
first use, so a restored backup keeps its salt and a fresh database makes its own.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("messages", sa.Column("redacted_at", sa.DateTime))
    op.create_table(
        "privacy",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("retained_message_id", Id, nullable=False, server_default="0"),
        sa.Column("retained_event_id", Id, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_privacy"),
    )
    op.create_table(
        "tombstones",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_tombstones"),
    )


def downgrade() -> None:
    op.drop_table("tombstones")
    op.drop_table("privacy")
    op.drop_column("messages", "redacted_at")
