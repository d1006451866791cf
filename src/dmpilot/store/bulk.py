"""Writing many rows at once: synthetic histories for the audit's benchmark and tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from dmpilot.store.schema import contacts, messages


class Bulk:
    __slots__ = ("db",)

    def __init__(self, db: Connection) -> None:
        self.db = db

    def insert_contacts(self, rows: Sequence[dict[str, Any]], channel: str) -> dict[str, int]:
        """Insert contacts (all on `channel`); their ids by external id."""
        if rows:
            self.db.execute(insert(contacts), [{**row, "channel": channel} for row in rows])
        found = self.db.execute(
            select(contacts.c.external_id, contacts.c.id).where(contacts.c.channel == channel)
        )
        return {external: contact_id for external, contact_id in found}

    def insert_messages(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.db.execute(insert(messages), list(rows))

    def stop_contacts(self, stops: Sequence[tuple[int, datetime]], reason: str) -> None:
        if stops:
            self.db.execute(
                update(contacts)
                .where(contacts.c.id == bindparam("b_id"))
                .values(stopped_at=bindparam("b_at"), stop_reason=reason, stage="stopped"),
                [{"b_id": contact_id, "b_at": at} for contact_id, at in stops],
            )
