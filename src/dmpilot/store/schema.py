"""The schema. Correctness lives here as constraints: dedup keys, one reply per turn."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    false,
    literal_column,
)

# BIGINT on PostgreSQL, INTEGER (rowid alias, autoincrementing) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("name", String(200)),
    Column("username", String(100)),
    Column("language", String(8)),
    Column("stage", String(32)),  # the stage of the last reply; NULL before the first one
    Column("created_at", DateTime, nullable=False),
    Column("last_inbound_at", DateTime, nullable=False),
    Column("cycle_started_at", DateTime, nullable=False),
    Column("stopped_at", DateTime),
    Column("stop_reason", String(32)),
    Column("converted_at", DateTime),  # marked converted: the next turn is the goodbye
    # The turn lease: at most one turn per contact in flight, expiring so a crash never
    # blocks a contact for good.
    Column("lease_owner", String(64)),
    Column("lease_expires_at", DateTime),
    # A turn the worker owes this contact (push / hybrid delivery, retries), and when.
    Column("turn_due_at", DateTime),
    Column("turn_attempts", Integer, nullable=False, server_default="0"),
    # An opt-out stopped this contact while it was active: one goodbye is owed.
    Column("goodbye_due", Boolean, nullable=False, server_default=false()),
    # Human handoff: the bot is silent for this contact until handoff_until.
    Column("handoff_at", DateTime),
    Column("handoff_until", DateTime),
    Column("handoff_by", String(64)),
    Column("handoff_reason", String(32)),
    Column("source", String(200)),  # where the contact came from: an ad, an ig.me link
    UniqueConstraint("channel", "external_id"),
    Index(None, "turn_due_at"),
    Index(None, "last_inbound_at", "id"),  # the console's inbox, newest activity first
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("direction", String(3), nullable=False),  # "in" | "out"
    Column("kind", String(24), nullable=False),
    Column("text", Text, nullable=False),
    Column("media_url", Text),
    Column("language", String(8)),
    Column("stage", String(32)),
    Column("turn_id", Id, ForeignKey("turns.id")),
    Column("exit_variant", Integer),
    Column("created_at", DateTime, nullable=False),
    # What the reply cost: tokens over every attempt, brain time, attempts.
    Column("model", String(64)),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("cache_read_tokens", Integer),
    Column("cache_write_tokens", Integer),
    Column("brain_ms", Integer),
    Column("attempts", Integer),
    # Outbound only: key of the normalised text (domain.repetition.text_key), for audits.
    Column("text_key", String(16)),
    # Outbound only: its delivery was cancelled, so the contact never saw it.
    Column("cancelled", Boolean, nullable=False, server_default=false()),
    # Outbound written by a person (console, `dmpilot say`): who. NULL for the bot's.
    Column("author", String(64)),
    Column("deleted_at", DateTime),  # the contact unsent it: never shown to a model again
    # Its text was blanked (forgotten contact, retention): no model sees it again.
    Column("redacted_at", DateTime),
    Index(None, "contact_id", "id"),
    Index(None, "contact_id", "text_key"),
    Index(None, "created_at"),
    # One reply per turn: inbound rows carry no turn, so NULLs do not collide.
    Index("uq_messages_turn_id", "turn_id", unique=True),
)

# Our messages that were not withdrawn: the console's replies-per-day chart counts them by
# day on this partial index. Literals, not bound values, so SQLite's planner can match a
# query's WHERE to the index's.
REPLIED = and_(messages.c.direction == literal_column("'out'"), messages.c.cancelled == false())
Index(
    "ix_messages_replies_created_at",
    messages.c.created_at,
    sqlite_where=REPLIED,
    postgresql_where=REPLIED,
)

# Dedup: one row per (contact, message key); the window is enforced by an atomic upsert.
inbound_keys = Table(
    "inbound_keys",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("first_seen_at", DateTime, nullable=False),
    Column("message_id", Id),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    # What started the turn (domain.turns): one turn per (contact, trigger), ever.
    Column("trigger", String(64), nullable=False),
    # The newest inbound this turn answers; everything up to it is answered with it.
    Column("last_inbound_id", Id, nullable=False),
    Column("stage", String(32), nullable=False),
    # sent | exit | goodbye; cancelled when its delivery was fenced off (what it
    # answered is then pending again)
    Column("outcome", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("contact_id", "trigger"),
    Index(None, "contact_id", "last_inbound_id"),
)

# Follow-up nudges (domain.follow_ups): one row per contact, so at most one is pending; a
# newer reply reschedules it. Written in the reply's commit; a worker claims a due one
# with the contact's lease, and its nudge is the turn `nudge:<reply_id>`.
follow_ups = Table(
    "follow_ups",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("reply_id", Id, nullable=False),  # the reply message it follows
    Column("stage", String(32), nullable=False),  # the reply's stage
    Column("due_at", DateTime, nullable=False),
    Column("state", String(16), nullable=False),  # domain.follow_ups.FollowUpState
    Column("reason", String(32)),  # why it was cancelled or failed
    Column("claims", Integer, nullable=False, server_default="0"),  # workers that took it
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index(None, "state", "due_at"),
)

# What a contact told us about themselves (domain.memory), one value per kind.
contact_facts = Table(
    "contact_facts",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("message_id", Id),  # the message that told us last
    Column("updated_at", DateTime, nullable=False),
)

# The outbox: every committed outbound text, one row per message, written in the same
# transaction as the message. Workers claim rows with an expiring lease and record the
# outcome (domain.delivery.DeliveryState).
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("turn_id", Id),
    Column("channel", String(32), nullable=False),
    Column("recipient", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("via", String(16)),
    Column("not_before", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("provider_message_id", String(128)),
    Column("claimed_by", String(64)),
    Column("claimed_at", DateTime),
    Column("claim_expires_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    UniqueConstraint("message_id"),
    Index(None, "state", "not_before"),
    Index(None, "contact_id", "id"),
    Index(None, "claimed_at"),
    Index(None, "channel", "provider_message_id"),  # an echo's message id → our delivery
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("reason", String(64)),
    Column("contact_id", Id),
    Column("message_id", Id),
    Column("turn_id", Id),
    Column("latency_ms", Integer),
    Column("detail", JSON),
    Index(None, "created_at"),
    Index(None, "message_id"),
    Index(None, "contact_id", "id"),
    Index(None, "kind", "reason"),
)

control = Table(
    "control",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("paused", Boolean, nullable=False),
    Column("reason", Text),
    Column("changed_at", DateTime),
    Column("changed_by", String(64)),
)

# A contact's data (store/privacy): the secret salt of the tombstones, made on first use,
# and how far the retention chore got (message and event ids). One row.
privacy = Table(
    "privacy",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("retained_message_id", Id, nullable=False, server_default="0"),
    Column("retained_event_id", Id, nullable=False, server_default="0"),
)

# Forgotten contacts: HMAC-SHA256(salt, channel and channel id), nothing else. A contact
# created with a matching id starts stopped.
tombstones = Table(
    "tombstones",
    metadata,
    Column("digest", String(64), primary_key=True),
)

# New conversations engaged per UTC day, claimed atomically against the daily budget.
daily_budget = Table(
    "daily_budget",
    metadata,
    Column("day", Date, primary_key=True),
    Column("engaged", Integer, nullable=False),
)

exit_rotation = Table(
    "exit_rotation",
    metadata,
    Column("language", String(8), primary_key=True),
    Column("last_variant", Integer, nullable=False),
    Column("changed_at", DateTime, nullable=False),
)

# Attribution: each reply that carried the persona's link got its own token.
link_tokens = Table(
    "link_tokens",
    metadata,
    Column("token", String(24), primary_key=True),
    Column("contact_id", Id, nullable=False),
    Column("message_id", Id, nullable=False),
    Column("stage", String(32)),
    Column("created_at", DateTime, nullable=False),
)

link_clicks = Table(
    "link_clicks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(24), nullable=False),
    Column("clicked_at", DateTime, nullable=False),
    Column("user_agent", String(200)),
    Index(None, "token"),
)

# The last audit's findings, per contact: the console's "has audit findings" filter.
# Each audit run over the whole history replaces them.
audit_findings = Table(
    "audit_findings",
    metadata,
    Column("contact_id", Id, primary_key=True),
    Column("finding", String(32), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("found_at", DateTime, nullable=False),
)

# Alerts to the operator: one row per incident (domain.alerts). A check claims an incident
# with a conditional statement on `next_at` (and `mark`), so several processes checking at
# once send each alert once; the outcome of each send is also an event.
alerts = Table(
    "alerts",
    metadata,
    Column("key", String(160), primary_key=True),  # kind, or kind:scope
    Column("kind", String(32), nullable=False),
    Column("contact_id", Id),  # the contact it is about, if any
    Column("opened_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),  # NULL while the incident lasts
    Column("last_sent_at", DateTime, nullable=False),
    Column("next_at", DateTime, nullable=False),  # no alert for it before then (cool-down)
    Column("mark", Id),  # incidents made of events: the newest event alerted
    Column("count", Integer, nullable=False),  # alerts sent (or tried) for it
    Column("outcome", String(16)),  # of the last one: sent | failed; NULL while sending
    Column("summary", Text, nullable=False),  # the last alert's line
    Index(None, "last_sent_at"),
    Index(None, "resolved_at"),
)
