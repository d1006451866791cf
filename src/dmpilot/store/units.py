"""Units of work: one transaction each, with what the engine and the read models need.

`WriteUnit` is everything a decision writes (inbox, leases, turns, outbox, control,
contacts, events); `ReadUnit` is every read model. Each guarantee is still one atomic
statement or constraint inside the unit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from dmpilot.domain.contacts import ContactInfo, ContactRef
from dmpilot.domain.control import ControlState
from dmpilot.domain.delivery import DeliveryState, WorkDue
from dmpilot.domain.findings import Finding
from dmpilot.domain.follow_ups import FollowUpState
from dmpilot.store.bulk import Bulk
from dmpilot.store.channel_events import ChannelEvents
from dmpilot.store.contacts import Contacts, find_contact
from dmpilot.store.control import Control
from dmpilot.store.events import EventLog
from dmpilot.store.follow_ups import FollowUps
from dmpilot.store.handoff import Handoffs
from dmpilot.store.inbox import Inbox
from dmpilot.store.links import Links
from dmpilot.store.outbox import Outbox
from dmpilot.store.privacy import Privacy
from dmpilot.store.privacy.export import export_contact
from dmpilot.store.reads import audit as audit_reads
from dmpilot.store.reads import console as console_reads
from dmpilot.store.reads import deliveries as delivery_reads
from dmpilot.store.reads.history import TimelineEntry, timeline
from dmpilot.store.reads.stats import RawStats, raw_stats
from dmpilot.store.reads.summary import Summary, summary
from dmpilot.store.schema import contacts, deliveries, follow_ups
from dmpilot.store.statements import Statements
from dmpilot.store.turns import Leases, Turns


class WriteUnit:
    __slots__ = (
        "bulk",
        "channel_events",
        "contacts",
        "control",
        "db",
        "events",
        "follow_ups",
        "handoffs",
        "inbox",
        "leases",
        "links",
        "outbox",
        "privacy",
        "turns",
    )

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.inbox = Inbox(db, sql)
        self.leases = Leases(db, sql)
        self.turns = Turns(db, sql)
        self.outbox = Outbox(db, sql)
        self.control = Control(db)
        self.contacts = Contacts(db)
        self.events = EventLog(db)
        self.links = Links(db)
        self.bulk = Bulk(db)
        self.handoffs = Handoffs(db, sql)
        self.channel_events = ChannelEvents(db, sql)
        self.follow_ups = FollowUps(db, sql, self.leases)
        self.privacy = Privacy(db, sql)


class ReadUnit:
    """Read models. On SQLite a read transaction never takes the write lock."""

    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    def control(self) -> ControlState:
        return Control(self.db).state()

    def decision_mix(self, since: datetime) -> dict[tuple[str, str | None], int]:
        return Control(self.db).decision_mix(since)

    def newest_inbound_id(self, contact_id: int) -> int | None:
        newest: int | None = self.db.scalar(self.sql.newest_inbound, {"contact_id": contact_id})
        return newest

    def new_conversations(self, day: date) -> int:
        return self.db.scalar(self.sql.budget_used, {"day": day}) or 0

    def recent_outbound(
        self, since: datetime, exclude_contact: int, limit: int = 500
    ) -> list[tuple[int, str]]:
        """Replies sent to other contacts since `since`, newest first (broadcast check)."""
        rows = self.db.execute(
            self.sql.recent_outbound,
            {"since": since, "contact_id": exclude_contact, "limit": limit},
        ).all()
        return [(contact_id, text) for contact_id, text in rows]

    def work_due(self, now: datetime) -> WorkDue:
        """Whether a claim would find turns or deliveries: two indexed probes, no lock."""
        d = deliveries
        turns_due = self.db.scalar(
            select(contacts.c.id).where(contacts.c.turn_due_at <= now).limit(1)
        )
        deliveries_due = self.db.scalar(
            select(d.c.id)
            .where(
                or_(
                    and_(d.c.state == DeliveryState.PENDING.value, d.c.not_before <= now),
                    and_(d.c.state == DeliveryState.SENDING.value, d.c.claim_expires_at <= now),
                )
            )
            .limit(1)
        )
        return WorkDue(turns=turns_due is not None, deliveries=deliveries_due is not None)

    def follow_up_due(self, now: datetime) -> bool:
        """Whether a follow-up is due: an indexed probe, no lock."""
        due = self.db.scalar(
            select(follow_ups.c.contact_id)
            .where(follow_ups.c.state == FollowUpState.PENDING.value, follow_ups.c.due_at <= now)
            .limit(1)
        )
        return due is not None

    def contact_count(self) -> int:
        return self.db.scalar(select(func.count()).select_from(contacts)) or 0

    def contacts_outside(self, channel: str) -> int:
        """How many contacts are on other channels than `channel` (the demo's check)."""
        return (
            self.db.scalar(
                select(func.count()).select_from(contacts).where(contacts.c.channel != channel)
            )
            or 0
        )

    def find_contact(self, ref: ContactRef) -> ContactInfo | None:
        return find_contact(self.db, ref)

    def export_contact(self, contact_id: int, now: datetime) -> dict[str, Any] | None:
        """Everything stored about one contact (store/privacy/export.py)."""
        return export_contact(self.db, contact_id, now)

    def timeline(self, contact_id: int) -> tuple[dict[str, object], list[TimelineEntry]]:
        return timeline(self.db, contact_id)

    def raw_stats(self, since: datetime | None) -> RawStats:
        return raw_stats(self.db, since)

    def summary(self, since: datetime) -> Summary:
        return summary(self.db, since)

    def deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        contact_id: int | None = None,
        limit: int = 50,
    ) -> list[delivery_reads.DeliveryRow]:
        return delivery_reads.list_deliveries(
            self.db, state=state, contact_id=contact_id, limit=limit
        )

    def delivery_counts(self) -> dict[DeliveryState, int]:
        return delivery_reads.counts_by_state(self.db)

    def oldest_pending_delivery(self) -> datetime | None:
        return delivery_reads.oldest_pending(self.db)

    def audit(
        self, scope: audit_reads.Scope, progress: audit_reads.Progress
    ) -> tuple[dict[Finding, audit_reads.Counts], int, int]:
        return audit_reads.run_checks(self.db, scope, progress)

    def contact_names(self, ids: list[int]) -> dict[int, tuple[str, str | None]]:
        return audit_reads.contact_names(self.db, ids)

    # -- the operator console (store/reads/console.py) -----------------------------------

    def console_inbox(
        self, query: console_reads.InboxQuery, now: datetime
    ) -> console_reads.InboxPage:
        return console_reads.inbox(self.db, query, now)

    def console_overview(self, now: datetime) -> console_reads.Overview:
        return console_reads.overview(self.db, now)

    def console_contact(self, contact_id: int) -> console_reads.ContactHeader | None:
        return console_reads.contact_header(self.db, contact_id)

    def console_timeline(
        self, contact_id: int, before: console_reads.TimelineCursor | None = None
    ) -> console_reads.TimelinePage:
        return console_reads.timeline(self.db, contact_id, before=before)

    def console_timeline_after(
        self, contact_id: int, after: console_reads.TimelineCursor
    ) -> console_reads.TimelinePage:
        return console_reads.timeline_after(self.db, contact_id, after)

    def console_findings(self) -> list[console_reads.FindingRow]:
        return console_reads.stored_findings(self.db)
