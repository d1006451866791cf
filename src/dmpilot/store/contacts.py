"""Finding contacts by the references operators use, and marking conversions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, case, or_, select, update

from dmpilot.domain.contacts import ContactInfo, ContactRef, ConvertOutcome, RefKind
from dmpilot.domain.decision import EventKind
from dmpilot.store.events import add_event
from dmpilot.store.schema import contacts

# The columns a ContactInfo is made of, in its field order.
CONTACT_INFO_COLUMNS = (
    contacts.c.id,
    contacts.c.channel,
    contacts.c.external_id,
    contacts.c.username,
    contacts.c.name,
    contacts.c.stage,
    contacts.c.language,
    contacts.c.stopped_at,
    contacts.c.stop_reason,
    contacts.c.converted_at,
    contacts.c.handoff_until,
    contacts.c.handoff_by,
    contacts.c.handoff_reason,
    contacts.c.source,
)


def find_contact(db: Connection, ref: ContactRef) -> ContactInfo | None:
    """The contact a reference names (the oldest, when a username is on two channels)."""
    c = contacts
    if ref.kind is RefKind.INTERNAL:
        condition = c.c.id == int(ref.value)
    elif ref.kind is RefKind.USERNAME:
        condition = c.c.username == ref.value
    else:
        # A bare word may be a subscriber id or a username typed without its @.
        condition = or_(c.c.external_id == ref.value, c.c.username == ref.value)
    row = db.execute(
        select(*CONTACT_INFO_COLUMNS)
        .where(condition)
        .order_by((c.c.external_id != ref.value), c.c.id)
        .limit(1)
    ).first()
    return ContactInfo(**row._asdict()) if row is not None else None


class Contacts:
    __slots__ = ("db",)

    def __init__(self, db: Connection) -> None:
        self.db = db

    def find(self, ref: ContactRef) -> ContactInfo | None:
        return find_contact(self.db, ref)

    def mark_converted(self, contact: ContactInfo, now: datetime, by: str) -> ConvertOutcome:
        """Record a conversion; the contact's next turn is the goodbye (if it is active)."""
        changed = self.db.execute(
            update(contacts)
            .where(contacts.c.id == contact.id, contacts.c.converted_at.is_(None))
            .values(
                converted_at=now,
                stage=case((contacts.c.stopped_at.is_(None), "converted"), else_=contacts.c.stage),
            )
        )
        if not changed.rowcount:
            return ConvertOutcome.ALREADY
        add_event(self.db, now, EventKind.CONVERTED, contact_id=contact.id, detail={"by": by})
        return (
            ConvertOutcome.STOPPED if contact.stopped_at is not None else ConvertOutcome.CONVERTED
        )
