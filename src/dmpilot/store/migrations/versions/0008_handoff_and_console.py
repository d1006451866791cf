"""Human handoff (who took a contact over, why, until when), the author of a human-written
message, the console's indexes (inbox activity, replies per day), and the audit's last
findings per contact.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("contacts", sa.Column("handoff_at", sa.DateTime))
    op.add_column("contacts", sa.Column("handoff_until", sa.DateTime))
    op.add_column("contacts", sa.Column("handoff_by", sa.String(64)))
    op.add_column("contacts", sa.Column("handoff_reason", sa.String(32)))
    op.create_index(
        "ix_contacts_last_inbound_at_id", "contacts", ["last_inbound_at", "id"], unique=False
    )
    op.add_column("messages", sa.Column("author", sa.String(64)))
    # The console's replies per day: our messages not withdrawn, by time.
    op.create_index(
        "ix_messages_replies_created_at",
        "messages",
        ["created_at"],
        sqlite_where=sa.text("direction = 'out' AND cancelled = 0"),
        postgresql_where=sa.text("direction = 'out' AND cancelled = false"),
    )
    op.create_table(
        "audit_findings",
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("finding", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("found_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "finding", name="pk_audit_findings"),
    )


def downgrade() -> None:
    op.drop_table("audit_findings")
    op.drop_index("ix_messages_replies_created_at", "messages")
    op.drop_column("messages", "author")
    op.drop_index("ix_contacts_last_inbound_at_id", "contacts")
    for column in ("handoff_reason", "handoff_by", "handoff_until", "handoff_at"):
        op.drop_column("contacts", column)
