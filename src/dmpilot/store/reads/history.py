"""One conversation as a timeline: messages with their stages, every decision, and what
became of each delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from dmpilot.store.schema import contacts, deliveries, events, messages


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "in", "out" or "event"
    text: str
    stage: str | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = None
    delivery: str | None = None  # outbound only: the delivery's state (and how it went)


def timeline(db: Connection, contact_id: int) -> tuple[dict[str, Any], list[TimelineEntry]]:
    contact = db.execute(select(contacts).where(contacts.c.id == contact_id)).one()
    message_rows = db.execute(
        select(
            messages.c.id,
            messages.c.created_at,
            messages.c.direction,
            messages.c.kind,
            messages.c.text,
            messages.c.stage,
            deliveries.c.state,
            deliveries.c.via,
        )
        .outerjoin(deliveries, deliveries.c.message_id == messages.c.id)
        .where(messages.c.contact_id == contact_id)
        .order_by(messages.c.id)
    ).all()
    event_rows = db.execute(
        select(
            events.c.id,
            events.c.created_at,
            events.c.kind,
            events.c.reason,
            events.c.detail,
            events.c.latency_ms,
        )
        .where(events.c.contact_id == contact_id)
        .order_by(events.c.id)
    ).all()
    entries = [
        TimelineEntry(
            row.created_at,
            row.direction,
            row.text if row.kind in ("text", "reply") else f"[{row.kind}] {row.text}".strip(),
            row.stage,
            delivery=f"{row.state} via {row.via}" if row.via else row.state,
        )
        for row in message_rows
    ]
    entries += [
        TimelineEntry(
            row.created_at,
            "event",
            row.kind,
            reason=row.reason,
            detail={**(row.detail or {}), "latency_ms": row.latency_ms}
            if row.latency_ms is not None
            else row.detail,
        )
        for row in event_rows
    ]
    # Messages before the decisions taken at the same instant.
    entries.sort(key=lambda e: (e.at, e.kind == "event"))
    info = {
        "external_id": contact.external_id,
        "username": contact.username,
        "name": contact.name,
        "stage": contact.stage,
        "language": contact.language,
        "stopped_at": contact.stopped_at,
        "stop_reason": contact.stop_reason,
    }
    return info, entries
