"""Writing event rows: every decision and every delivery outcome is one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dmpilot.domain.decision import EventKind, Reason
from dmpilot.store.driver import execute
from dmpilot.store.schema import events

_INSERT = events.insert()  # built once: the driver path keeps its compiled form


def add_event(
    db: Connection,
    now: datetime,
    kind: EventKind,
    reason: Reason | str | None = None,
    *,
    contact_id: int | None = None,
    message_id: int | None = None,
    turn_id: int | None = None,
    latency_ms: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    execute(
        db,
        _INSERT,
        {
            "created_at": now,
            "kind": kind.value,
            "reason": str(reason) if reason is not None else None,
            "contact_id": contact_id,
            "message_id": message_id,
            "turn_id": turn_id,
            "latency_ms": latency_ms,
            "detail": detail or None,
        },
    )


class EventLog:
    """The events of one unit of work."""

    __slots__ = ("db",)

    def __init__(self, db: Connection) -> None:
        self.db = db

    def record(
        self,
        now: datetime,
        kind: EventKind,
        reason: Reason | str | None = None,
        *,
        contact_id: int | None = None,
        message_id: int | None = None,
        turn_id: int | None = None,
        latency_ms: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        add_event(
            self.db,
            now,
            kind,
            reason,
            contact_id=contact_id,
            message_id=message_id,
            turn_id=turn_id,
            latency_ms=latency_ms,
            detail=detail,
        )
