"""Follow-up nudges inside the 24-hour window.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("reply_id", Id, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("claims", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_follow_ups_contact_id_contacts"
        ),
        sa.PrimaryKeyConstraint("contact_id", name="pk_follow_ups"),
    )
    op.create_index("ix_follow_ups_state_due_at", "follow_ups", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_follow_ups_state_due_at", "follow_ups")
    op.drop_table("follow_ups")
