"""Events that name a contact without carrying its id: written before the contact had a
row (a webhook item from a sender dmpilot did not know yet)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Text, cast, or_, select

from dmpilot.domain.privacy import mention_pattern, mentions
from dmpilot.store.schema import events


def mentioning(db: Connection, external_id: str, username: str | None) -> list[Any]:
    """Events written before the contact had a row (a webhook item from a sender dmpilot
    did not know yet) that name it: its channel id or @username in their detail."""
    pattern = mention_pattern(external_id, username)
    words = [external_id] + ([f"@{username}"] if username else [])
    text = cast(events.c.detail, Text)
    candidates = db.execute(
        select(events.c.id, events.c.detail)
        .where(
            events.c.contact_id.is_(None),
            or_(*(text.contains(_json_escaped(word), autoescape=True) for word in words)),
        )
        .order_by(events.c.id)
    ).all()
    return [row for row in candidates if mentions(row.detail, external_id, pattern)]


def _json_escaped(word: str) -> str:
    """How a word reads inside stored JSON (non-ASCII as \\uXXXX escapes)."""
    return json.dumps(word)[1:-1]
