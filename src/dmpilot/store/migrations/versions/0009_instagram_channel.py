"""The Instagram Messaging API channel: where a contact came from (an ad, an ig.me link),
messages the contact unsent, and the lookup of an echo's message id among our deliveries.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("source", sa.String(200)))
    op.add_column("messages", sa.Column("deleted_at", sa.DateTime))
    op.create_index(
        "ix_deliveries_channel_provider_message_id",
        "deliveries",
        ["channel", "provider_message_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_channel_provider_message_id", "deliveries")
    op.drop_column("messages", "deleted_at")
    op.drop_column("contacts", "source")
