"""Tracked links: one token per reply that carried the persona's link, and its clicks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "link_tokens",
        sa.Column("token", sa.String(24), nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("message_id", Id, nullable=False),
        sa.Column("stage", sa.String(32)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_link_tokens"),
    )
    op.create_table(
        "link_clicks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(24), nullable=False),
        sa.Column("clicked_at", sa.DateTime, nullable=False),
        sa.Column("user_agent", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_link_clicks"),
    )
    op.create_index("ix_link_clicks_token", "link_clicks", ["token"])


def downgrade() -> None:
    op.drop_index("ix_link_clicks_token", table_name="link_clicks")
    op.drop_table("link_clicks")
    op.drop_table("link_tokens")
