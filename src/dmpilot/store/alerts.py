"""Alerts in the store: the figures the alert check reads, and the `alerts` table where
each incident is claimed once per cool-down.

A claim is one conditional statement (an INSERT that does nothing on conflict, or an
UPDATE guarded by `next_at` and `mark`), so processes checking at the same moment never
send one alert twice. Existing read models are reused: the kill switch and the event mix
(`store/control.py`, the anomaly guard's), a day's tokens (`reads/console.tokens_on`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Date, case, extract, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dmpilot.domain.alerts import AlertKind, AlertOutcome, AlertTarget, Incident
from dmpilot.domain.contacts import HandoffReason
from dmpilot.domain.control import ControlState
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.store.control import Control
from dmpilot.store.events import add_event
from dmpilot.store.reads.console import Tokens, tokens_on
from dmpilot.store.schema import alerts, contacts, events, messages

MAX_HUMAN_REQUESTS = 50  # per check: a storm of requests is still a bounded read


@dataclass(frozen=True, slots=True)
class HumanRequest:
    """A contact that asked for a person and still waits for one."""

    contact_id: int
    username: str | None
    event_id: int  # the newest request's event


@dataclass(frozen=True, slots=True)
class Happened:
    """Events of one kind over the lookback: how many, and the newest."""

    count: int = 0
    newest_id: int | None = None
    newest_reason: str | None = None
    newest_detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AlertFigures:
    now: datetime
    control: ControlState
    mix: dict[tuple[str, str | None], int]  # event counts by (kind, reason) over the window
    tokens_today: Tokens
    inbound_hours: list[tuple[date, int]]  # (UTC day, hour of day) that had inbound
    last_inbound_at: datetime | None
    minor_stops: Happened
    brain_start: Happened
    human_requests: list[HumanRequest]


def read_figures(
    db: Connection, now: datetime, *, window: timedelta, lookback: timedelta, history: timedelta
) -> AlertFigures:
    """Everything the conditions look at, in one read transaction: bounded, indexed reads."""
    return AlertFigures(
        now=now,
        control=Control(db).state(),
        mix=Control(db).decision_mix(now - window),
        tokens_today=tokens_on(db, now.date()),
        inbound_hours=_inbound_hours(db, now - history),
        last_inbound_at=db.scalar(
            select(messages.c.created_at)
            .where(messages.c.direction == "in")
            .order_by(messages.c.created_at.desc())
            .limit(1)
        ),
        minor_stops=_happened(db, EventKind.STOPPED, Reason.MINOR.value, now - lookback),
        brain_start=_happened(db, EventKind.BRAIN_PROBE_FAILED, None, now - lookback),
        human_requests=_human_requests(db, now, now - lookback),
    )


def _inbound_hours(db: Connection, since: datetime) -> list[tuple[date, int]]:
    m = messages
    day = func.date(m.c.created_at, type_=Date)  # date() on both databases
    hour = extract("hour", m.c.created_at)
    rows = db.execute(
        select(day, hour).where(m.c.created_at >= since, m.c.direction == "in").group_by(day, hour)
    )
    return [(when, int(at)) for when, at in rows]


def _happened(db: Connection, kind: EventKind, reason: str | None, since: datetime) -> Happened:
    e = events
    where = [e.c.kind == kind.value, e.c.created_at >= since]
    if reason is not None:
        where.append(e.c.reason == reason)
    count = db.scalar(select(func.count()).select_from(e).where(*where)) or 0
    if not count:
        return Happened()
    newest = db.execute(
        select(e.c.id, e.c.reason, e.c.detail).where(*where).order_by(e.c.id.desc()).limit(1)
    ).one()
    detail = newest.detail if isinstance(newest.detail, dict) else None
    return Happened(int(count), int(newest.id), newest.reason, detail)


def _human_requests(db: Connection, now: datetime, since: datetime) -> list[HumanRequest]:
    e, c = events, contacts
    newest = func.max(e.c.id)
    rows = db.execute(
        select(c.c.id, c.c.username, newest)
        .join(c, c.c.id == e.c.contact_id)
        .where(
            e.c.kind == EventKind.HANDOFF.value,
            e.c.reason == HandoffReason.REQUESTED.value,
            e.c.created_at >= since,
            # Still waiting: a person has not handed it back, nor taken it over since.
            c.c.handoff_reason == HandoffReason.REQUESTED.value,
            c.c.handoff_until > now,
        )
        .group_by(c.c.id, c.c.username)
        .order_by(newest.desc())
        .limit(MAX_HUMAN_REQUESTS)
    )
    return [HumanRequest(int(cid), username, int(event_id)) for cid, username, event_id in rows]


# -- the alerts table ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertRow:
    key: str
    kind: str
    contact_id: int | None
    opened_at: datetime
    resolved_at: datetime | None
    last_sent_at: datetime
    next_at: datetime
    mark: int | None
    count: int
    outcome: str | None
    summary: str

    def due(self, incident: Incident, now: datetime) -> bool:
        """Whether this incident may be alerted now (the claim re-checks it atomically)."""
        grew = incident.mark is None or self.mark is None or incident.mark > self.mark
        return self.next_at <= now and grew


@dataclass(frozen=True, slots=True)
class Claimed:
    """An incident this process claimed: it alone sends this alert."""

    incident: Incident
    at: datetime
    previous_mark: int | None  # restored when no target took the alert, so it is tried again


class AlertBook:
    """The `alerts` table inside one unit of work (a read or a write transaction)."""

    __slots__ = ("db", "insert")

    def __init__(self, db: Connection) -> None:
        self.db = db
        self.insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert

    def rows(self, keys: Iterable[str]) -> dict[str, AlertRow]:
        """The rows of these keys, and every incident not resolved yet."""
        a = alerts
        wanted = list(keys)
        unresolved = a.c.resolved_at.is_(None)
        condition = (unresolved | a.c.key.in_(wanted)) if wanted else unresolved
        return {
            row.key: AlertRow(**row._asdict())
            for row in self.db.execute(select(a).where(condition))
        }

    def recent(self, limit: int = 50) -> list[AlertRow]:
        rows = self.db.execute(
            select(alerts).order_by(alerts.c.last_sent_at.desc(), alerts.c.key).limit(limit)
        )
        return [AlertRow(**row._asdict()) for row in rows]

    def open_rows(self) -> list[AlertRow]:
        rows = self.db.execute(
            select(alerts).where(alerts.c.resolved_at.is_(None)).order_by(alerts.c.opened_at)
        )
        return [AlertRow(**row._asdict()) for row in rows]

    def claim(self, incident: Incident, now: datetime, cooldown: timedelta) -> Claimed | None:
        """Take the right to alert this incident now, or None when it is not due (alerted
        within the cool-down, its events already alerted, or claimed by another process)."""
        a = alerts
        values = {
            "kind": incident.kind.value,
            "contact_id": incident.contact_id,
            "last_sent_at": now,
            "next_at": now + cooldown,
            "mark": incident.mark,
            "outcome": None,
            "summary": incident.summary,
        }
        inserted = self.db.scalar(
            self.insert(a)
            .values(key=incident.key, opened_at=now, count=1, **values)
            .on_conflict_do_nothing(index_elements=[a.c.key])
            .returning(a.c.key)  # rowcount is not reliable for an upsert on every driver
        )
        if inserted is not None:
            return Claimed(incident, now, None)
        previous = self.db.scalar(select(a.c.mark).where(a.c.key == incident.key))
        guard = [a.c.key == incident.key, a.c.next_at <= now]
        if incident.mark is not None:
            guard.append(a.c.mark.is_(None) | (a.c.mark < incident.mark))
        claimed = self.db.execute(
            update(a)
            .where(*guard)
            .values(
                count=a.c.count + 1,
                # A resolved incident that is back is a new one: opened now.
                opened_at=case((a.c.resolved_at.is_(None), a.c.opened_at), else_=now),
                resolved_at=None,
                **values,
            )
        )
        if claimed.rowcount != 1:
            return None
        return Claimed(incident, now, previous)

    def reopen(self, key: str, now: datetime) -> None:
        """An incident back within its cool-down: open again, alerted when the cool-down ends."""
        self.db.execute(
            update(alerts)
            .where(alerts.c.key == key, alerts.c.resolved_at.is_not(None))
            .values(opened_at=now, resolved_at=None)
        )

    def resolve(self, keys: Collection[str], now: datetime) -> None:
        self.db.execute(
            update(alerts)
            .where(alerts.c.key.in_(list(keys)), alerts.c.resolved_at.is_(None))
            .values(resolved_at=now)
        )

    def record(
        self,
        claimed: Claimed,
        failures: dict[AlertTarget, str | None],
        now: datetime,
        retry_after: timedelta,
    ) -> AlertOutcome:
        """Each target's outcome as an event, and the alert's on its row. When no target
        took it, the incident is due again after `retry_after`, with its events unalerted."""
        incident = claimed.incident
        for target, error in failures.items():
            add_event(
                self.db,
                now,
                EventKind.ALERT_FAILED if error else EventKind.ALERT_SENT,
                incident.kind.value,
                contact_id=incident.contact_id,
                detail={"incident": incident.key, "target": target.value, "error": error},
            )
        sent = any(error is None for error in failures.values())
        outcome = AlertOutcome.SENT if sent else AlertOutcome.FAILED
        values: dict[str, Any] = {"outcome": outcome.value}
        if not sent:
            values |= {"next_at": now + retry_after, "mark": claimed.previous_mark}
        self.db.execute(
            update(alerts)
            .where(alerts.c.key == incident.key, alerts.c.last_sent_at == claimed.at)
            .values(**values)
        )
        return outcome


def record_test(db: Connection, now: datetime, failures: dict[AlertTarget, str | None]) -> None:
    """`dmpilot alerts --test`: each target's outcome as an event; no incident row."""
    for target, error in failures.items():
        add_event(
            db,
            now,
            EventKind.ALERT_FAILED if error else EventKind.ALERT_SENT,
            AlertKind.TEST.value,
            detail={"incident": AlertKind.TEST.value, "target": target.value, "error": error},
        )
