"""The figures `dmpilot status` prints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, false, func, literal, select

from dmpilot.store.schema import contacts, events, messages


@dataclass(frozen=True, slots=True)
class Summary:
    contacts: int
    stopped: int
    inbound: int
    outbound: int
    events: list[tuple[str, str, int]]  # kind, reason ("" when none), count


def summary(db: Connection, since: datetime) -> Summary:
    contact_count = db.scalar(select(func.count()).select_from(contacts)) or 0
    stopped = (
        db.scalar(
            select(func.count()).select_from(contacts).where(contacts.c.stopped_at.is_not(None))
        )
        or 0
    )
    by_direction = {
        direction: count
        for direction, count in db.execute(
            select(messages.c.direction, func.count())
            .where(messages.c.cancelled.is_(false()))
            .group_by(messages.c.direction)
        )
    }
    recent = db.execute(
        select(events.c.kind, func.coalesce(events.c.reason, literal("")), func.count())
        .where(events.c.created_at >= since)
        .group_by(events.c.kind, events.c.reason)
        .order_by(func.count().desc())
    ).all()
    return Summary(
        contacts=contact_count,
        stopped=stopped,
        inbound=by_direction.get("in", 0),
        outbound=by_direction.get("out", 0),
        events=[(kind, reason, count) for kind, reason, count in recent],
    )
