"""Contacts can be marked converted (they bought, signed up…): the funnel ends for them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("converted_at", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("converted_at")
