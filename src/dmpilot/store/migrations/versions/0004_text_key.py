"""Outbound replies carry the key of their normalised text, so audits group repeats in SQL
with the same normalisation as the live repetition check.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("text_key", sa.String(16)))
    op.create_index("ix_messages_contact_id_text_key", "messages", ["contact_id", "text_key"])


def downgrade() -> None:
    op.drop_index("ix_messages_contact_id_text_key", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("text_key")
