"""A contact's data: export, forget, retention, and the tombstones of forgotten contacts
(domain.privacy has the rules)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from dmpilot.domain.contacts import ContactRef
from dmpilot.domain.privacy import ForgetResult, Redaction, RetentionBatch
from dmpilot.store.privacy.forget import forget
from dmpilot.store.privacy.retention import retain
from dmpilot.store.statements import Statements


class Privacy:
    """The write unit's repository: forgetting a contact, one batch of retention."""

    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    def forget(self, ref: ContactRef, now: datetime, by: str, redaction: Redaction) -> ForgetResult:
        return forget(self.db, self.sql, ref, now, by, redaction)

    def retain(
        self, before: datetime, now: datetime, redaction: Redaction, limit: int
    ) -> RetentionBatch:
        return retain(self.db, self.sql, before, now, redaction, limit)
