"""The outbox as operators see it: deliveries with their state, and queue figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from dmpilot.domain.delivery import DeliveryState
from dmpilot.store.schema import contacts, deliveries


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    contact_id: int
    subscriber: str
    username: str | None
    channel: str
    kind: str
    state: str
    via: str | None
    attempts: int
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    text: str


def list_deliveries(
    db: Connection,
    *,
    state: DeliveryState | None = None,
    contact_id: int | None = None,
    limit: int = 50,
) -> list[DeliveryRow]:
    d, c = deliveries, contacts
    query = (
        select(
            d.c.id,
            d.c.contact_id,
            c.c.external_id.label("subscriber"),
            c.c.username,
            d.c.channel,
            d.c.kind,
            d.c.state,
            d.c.via,
            d.c.attempts,
            d.c.not_before,
            d.c.created_at,
            d.c.sent_at,
            d.c.last_error,
            d.c.provider_message_id,
            d.c.text,
        )
        .join(c, c.c.id == d.c.contact_id)
        .order_by(d.c.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(d.c.state == state.value)
    if contact_id is not None:
        query = query.where(d.c.contact_id == contact_id)
    return [DeliveryRow(**row._asdict()) for row in db.execute(query)]


def counts_by_state(db: Connection) -> dict[DeliveryState, int]:
    rows = db.execute(select(deliveries.c.state, func.count()).group_by(deliveries.c.state))
    counts = dict.fromkeys(DeliveryState, 0)
    for state, count in rows:
        counts[DeliveryState(state)] = count
    return counts


def oldest_pending(db: Connection) -> datetime | None:
    """When the oldest pending delivery became due (its not_before)."""
    oldest: datetime | None = db.scalar(
        select(func.min(deliveries.c.not_before)).where(
            deliveries.c.state == DeliveryState.PENDING.value
        )
    )
    return oldest
