"""The kill switch and the anomaly guard's window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select, update

from dmpilot.domain.control import ControlState
from dmpilot.domain.decision import EventKind
from dmpilot.store.events import add_event
from dmpilot.store.schema import control, events


class Control:
    __slots__ = ("db",)

    def __init__(self, db: Connection) -> None:
        self.db = db

    def state(self) -> ControlState:
        row = self.db.execute(select(control).where(control.c.id == 1)).one()
        return ControlState(bool(row.paused), row.reason, row.changed_at, row.changed_by)

    def set_paused(self, paused: bool, reason: str | None, by: str, now: datetime) -> ControlState:
        self.db.execute(
            update(control)
            .where(control.c.id == 1)
            .values(paused=paused, reason=reason, changed_at=now, changed_by=by)
        )
        add_event(
            self.db,
            now,
            EventKind.PAUSED if paused else EventKind.RESUMED,
            detail={"reason": reason, "by": by},
        )
        return ControlState(paused, reason, now, by)

    def pause_if_running(self, reason: str, by: str, now: datetime) -> bool:
        """Turn the kill switch on unless it already is; True if this call paused."""
        changed = self.db.execute(
            update(control)
            .where(control.c.id == 1, control.c.paused.is_(False))
            .values(paused=True, reason=reason, changed_at=now, changed_by=by)
        )
        if changed.rowcount:
            add_event(self.db, now, EventKind.PAUSED, detail={"reason": reason, "by": by})
        return bool(changed.rowcount)

    def decision_mix(self, since: datetime) -> dict[tuple[str, str | None], int]:
        """Event counts by (kind, reason) since `since`: the anomaly guard's window."""
        rows = self.db.execute(
            select(events.c.kind, events.c.reason, func.count())
            .where(events.c.created_at >= since)
            .group_by(events.c.kind, events.c.reason)
        ).all()
        return {(kind, reason): count for kind, reason, count in rows}
