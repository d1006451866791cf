"""Initial schema: contacts, messages, dedup keys, turns, events, control, exit rotation.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("username", sa.String(100)),
        sa.Column("language", sa.String(8)),
        sa.Column("stage", sa.String(32)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_inbound_at", sa.DateTime, nullable=False),
        sa.Column("cycle_started_at", sa.DateTime, nullable=False),
        sa.Column("stopped_at", sa.DateTime),
        sa.Column("stop_reason", sa.String(32)),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_expires_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("channel", "external_id", name="uq_contacts_channel_external_id"),
    )
    op.create_table(
        "turns",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("last_inbound_id", Id, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_turns"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_turns_contact_id_contacts"
        ),
        sa.UniqueConstraint(
            "contact_id", "last_inbound_id", name="uq_turns_contact_id_last_inbound_id"
        ),
    )
    op.create_table(
        "messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("media_url", sa.Text),
        sa.Column("language", sa.String(8)),
        sa.Column("stage", sa.String(32)),
        sa.Column("turn_id", Id),
        sa.Column("exit_variant", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_messages_contact_id_contacts"
        ),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], name="fk_messages_turn_id_turns"),
    )
    op.create_index("ix_messages_contact_id_id", "messages", ["contact_id", "id"])
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_index("uq_messages_turn_id", "messages", ["turn_id"], unique=True)
    op.create_table(
        "inbound_keys",
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime, nullable=False),
        sa.Column("message_id", Id),
        sa.PrimaryKeyConstraint("contact_id", "key", name="pk_inbound_keys"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_inbound_keys_contact_id_contacts"
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("contact_id", Id),
        sa.Column("message_id", Id),
        sa.Column("turn_id", Id),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("detail", sa.JSON),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_index("ix_events_contact_id_id", "events", ["contact_id", "id"])
    op.create_index("ix_events_kind_reason", "events", ["kind", "reason"])
    op.create_table(
        "control",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("changed_at", sa.DateTime),
        sa.Column("changed_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_control"),
    )
    op.execute("INSERT INTO control (id, paused) VALUES (1, false)")
    op.create_table(
        "exit_rotation",
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("last_variant", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("language", name="pk_exit_rotation"),
    )


def downgrade() -> None:
    for table in ("exit_rotation", "control", "events", "inbound_keys", "messages", "turns"):
        op.drop_table(table)
    op.drop_table("contacts")
