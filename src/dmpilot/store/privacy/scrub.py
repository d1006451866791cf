"""Blanking texts in place: messages (with their deliveries) and event details. Forgetting
and retention both use these; the rows stay, so every count made of rows stays right."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select, update

from dmpilot.domain.privacy import Redaction, redact_detail
from dmpilot.store.schema import deliveries, events, inbound_keys, messages

T = TypeVar("T")
CHUNK = 500  # ids per IN list

_redact_message = (
    update(messages)
    .where(messages.c.id == bindparam("b_id"))
    .values(text=bindparam("b_text"), media_url=None, redacted_at=bindparam("b_now"))
)
_rekey_message = (
    update(messages).where(messages.c.id == bindparam("b_id")).values(text_key=bindparam("b_key"))
)
_redact_event = (
    update(events)
    .where(events.c.id == bindparam("b_id"))
    .values(detail=bindparam("b_detail", type_=events.c.detail.type))
)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def redact_messages(
    db: Connection, rows: Sequence[Any], now: datetime, redaction: Redaction
) -> int:
    """Blank each message (rows of id, direction, text) and its delivery's text. Dedup
    keys hash a message's text: the ones of these messages are deleted."""
    if not rows:
        return 0
    db.execute(
        _redact_message,
        [
            {"b_id": row.id, "b_text": redaction.text(row.direction, row.text), "b_now": now}
            for row in rows
        ],
    )
    ids = [row.id for row in rows]
    own_text = select(messages.c.text).where(messages.c.id == deliveries.c.message_id)
    for part in chunks(ids):
        db.execute(
            update(deliveries)
            .where(deliveries.c.message_id.in_(part))
            .values(text=own_text.scalar_subquery())
        )
        db.execute(inbound_keys.delete().where(inbound_keys.c.message_id.in_(part)))
    return len(rows)


def rekey_messages(db: Connection, keys: Mapping[int, str]) -> None:
    """New text keys (message id → key) for messages whose text is gone."""
    if keys:
        db.execute(_rekey_message, [{"b_id": mid, "b_key": key} for mid, key in keys.items()])


def redact_details(db: Connection, rows: Iterable[Any]) -> int:
    """Drop what names anyone from each event's detail (rows of id, detail); returns how
    many changed."""
    changes = [
        {"b_id": row.id, "b_detail": redacted}
        for row in rows
        if (redacted := redact_detail(row.detail)) != row.detail
    ]
    if changes:
        db.execute(_redact_event, changes)
    return len(changes)
