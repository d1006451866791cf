"""The outbox: deliveries, turns identified by their trigger, owed turns and goodbyes.

Every outbound message gets one `deliveries` row; existing replies went out in the webhook
response, so they are recorded as sent by `response`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("turn_due_at", sa.DateTime))
        batch.add_column(sa.Column("turn_attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("goodbye_due", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_index("ix_contacts_turn_due_at", "contacts", ["turn_due_at"])

    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("trigger", sa.String(64)))
    op.execute("UPDATE turns SET trigger = 'in:' || CAST(last_inbound_id AS VARCHAR(20))")
    with op.batch_alter_table("turns") as batch:
        batch.alter_column("trigger", existing_type=sa.String(64), nullable=False)
        batch.drop_constraint("uq_turns_contact_id_last_inbound_id", type_="unique")
        batch.create_unique_constraint("uq_turns_contact_id_trigger", ["contact_id", "trigger"])
    op.create_index(
        "ix_turns_contact_id_last_inbound_id", "turns", ["contact_id", "last_inbound_id"]
    )

    op.create_index("ix_events_message_id", "events", ["message_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("message_id", Id, nullable=False),
        sa.Column("turn_id", Id),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("via", sa.String(16)),
        sa.Column("not_before", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("provider_message_id", sa.String(128)),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_at", sa.DateTime),
        sa.Column("claim_expires_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_deliveries_contact_id_contacts"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_deliveries_message_id_messages"
        ),
        sa.UniqueConstraint("message_id", name="uq_deliveries_message_id"),
    )
    op.create_index("ix_deliveries_state_not_before", "deliveries", ["state", "not_before"])
    op.create_index("ix_deliveries_contact_id_id", "deliveries", ["contact_id", "id"])
    op.create_index("ix_deliveries_claimed_at", "deliveries", ["claimed_at"])
    op.execute(
        "INSERT INTO deliveries (contact_id, message_id, turn_id, channel, recipient, kind, "
        "text, state, via, not_before, attempts, created_at, updated_at, sent_at) "
        "SELECT m.contact_id, m.id, m.turn_id, c.channel, c.external_id, m.kind, m.text, "
        "'sent', 'response', m.created_at, 1, m.created_at, m.created_at, m.created_at "
        "FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE m.direction = 'out'"
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_index("ix_events_message_id", table_name="events")
    op.drop_index("ix_turns_contact_id_last_inbound_id", table_name="turns")
    with op.batch_alter_table("turns") as batch:
        batch.drop_constraint("uq_turns_contact_id_trigger", type_="unique")
        batch.create_unique_constraint(
            "uq_turns_contact_id_last_inbound_id", ["contact_id", "last_inbound_id"]
        )
        batch.drop_column("trigger")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("cancelled")
    op.drop_index("ix_contacts_turn_due_at", table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        for name in ("goodbye_due", "turn_attempts", "turn_due_at"):
            batch.drop_column(name)
