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
    UniqueConstraint("channel", "external_id"),
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
    Index(None, "contact_id", "id"),
    Index(None, "contact_id", "text_key"),
    Index(None, "created_at"),
    # One reply per turn: inbound rows carry no turn, so NULLs do not collide.
    Index("uq_messages_turn_id", "turn_id", unique=True),
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
    # The newest inbound this turn answers; everything up to it is answered with it.
    Column("last_inbound_id", Id, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("contact_id", "last_inbound_id"),
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
