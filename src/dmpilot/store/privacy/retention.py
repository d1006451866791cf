"""Retention: message texts older than N days are blanked, a bounded batch per transaction.

The `privacy` row remembers how far it got (the last message and event ids done), and
each batch takes that row first, so processes running the chore at once take turns and
never redo or skip a row. Rows are walked in id order and a batch stops at the first row
still too young, so a message stored a little out of order waits for its turn instead
of being passed over. A message whose delivery is still pending or being sent waits too:
its text may yet go out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, exists, select, update

from dmpilot.domain.delivery import DeliveryState
from dmpilot.domain.privacy import Redaction, RetentionBatch
from dmpilot.store.privacy.scrub import redact_details, redact_messages
from dmpilot.store.privacy.tombstones import lock_row
from dmpilot.store.schema import deliveries, events, messages, privacy
from dmpilot.store.statements import Statements

_OPEN = [DeliveryState.PENDING.value, DeliveryState.SENDING.value]


def retain(
    db: Connection,
    sql: Statements,
    before: datetime,
    now: datetime,
    redaction: Redaction,
    limit: int,
) -> RetentionBatch:
    """Blank the texts of up to `limit` messages and `limit` events created before
    `before`, from where the last batch stopped."""
    lock_row(db, sql)
    done_message, done_event = db.execute(
        select(privacy.c.retained_message_id, privacy.c.retained_event_id)
    ).one()
    m = messages
    unsettled = (
        exists()
        .where(deliveries.c.message_id == m.c.id, deliveries.c.state.in_(_OPEN))
        .label("unsettled")
    )
    rows = db.execute(
        select(m.c.id, m.c.direction, m.c.text, m.c.created_at, m.c.redacted_at, unsettled)
        .where(m.c.id > done_message)
        .order_by(m.c.id)
        .limit(limit)
    ).all()
    due = []
    for row in rows:
        if row.created_at >= before or row.unsettled:
            break
        due.append(row)
    redact_messages(db, [row for row in due if row.redacted_at is None], now, redaction)

    event_rows = db.execute(
        select(events.c.id, events.c.detail, events.c.created_at)
        .where(events.c.id > done_event)
        .order_by(events.c.id)
        .limit(limit)
    ).all()
    old_events = []
    for event in event_rows:
        if event.created_at >= before:
            break
        old_events.append(event)
    redact_details(db, old_events)

    db.execute(
        update(privacy).values(
            retained_message_id=due[-1].id if due else done_message,
            retained_event_id=old_events[-1].id if old_events else done_event,
        )
    )
    return RetentionBatch(
        messages=len(due),
        events=len(old_events),
        full=len(due) == limit or len(old_events) == limit,
    )
