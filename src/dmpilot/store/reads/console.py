"""Read models of the operator console: the inbox (keyset pages over the activity index),
the overview's figures, one contact's header, its timeline in cursor windows, and the last
audit's findings.

Every page is a bounded number of indexed queries: no OFFSET, no COUNT(*) over all
contacts per inbox page, no query per row (previews and finding counts are correlated
subqueries evaluated for the page's rows only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    tuple_,
)

from dmpilot.domain.contacts import ContactInfo, ContactStatus
from dmpilot.domain.control import ControlState
from dmpilot.domain.decision import EventKind
from dmpilot.domain.findings import Finding
from dmpilot.store.contacts import CONTACT_INFO_COLUMNS
from dmpilot.store.control import Control
from dmpilot.store.schema import (
    REPLIED,
    audit_findings,
    contact_facts,
    contacts,
    daily_budget,
    deliveries,
    events,
    link_clicks,
    link_tokens,
    messages,
)

PAGE_SIZE = 50
TIMELINE_WINDOW = 200
REPLY_DAYS = 30
NEW_STAGE = "new"  # contacts.stage is NULL until the first reply
GUARD_BY = "guard"  # who the anomaly guard records as having paused (engine/core.py)
# How many recent pauses to look through for the guard's: pauses are rare, and the JSON
# `detail` is read in Python rather than with each dialect's JSON operators.
RECENT_PAUSES = 100
MAX_CURSOR_ID = 2**63 - 1


# -- the inbox -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxCursor:
    """A position in the inbox order (last_inbound_at DESC, id DESC): `<iso time>_<id>`."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}_{self.id}"

    @classmethod
    def parse(cls, text: str) -> InboxCursor:
        """Raises ValueError for anything `encode` did not write."""
        when, sep, number = text.rpartition("_")
        if not sep or len(text) > 64 or not (number.isascii() and number.isdigit()):
            raise ValueError("a page cursor is <time>_<id>, as the Newer and Older links write")
        if len(number) > 19 or int(number) > MAX_CURSOR_ID:
            raise ValueError("the page cursor's id is out of range")
        try:
            at = datetime.fromisoformat(when)
        except ValueError as exc:
            raise ValueError("the page cursor's time is not an ISO time") from exc
        if at.tzinfo is not None:
            raise ValueError("the page cursor's time has a time zone; stored times have none")
        return cls(at, int(number))


class SearchKind(StrEnum):
    INTERNAL = "internal"  # id:42: dmpilot's row id
    USERNAME = "username"  # @sam: a username prefix
    ANY = "any"  # sam: a username prefix, or exactly a subscriber id


@dataclass(frozen=True, slots=True)
class Search:
    kind: SearchKind
    value: str


@dataclass(frozen=True, slots=True)
class InboxQuery:
    search: Search | None = None
    stage: str | None = None  # NEW_STAGE: not answered yet
    status: ContactStatus | None = None
    with_findings: bool = False
    after: InboxCursor | None = None  # the page older than this position
    before: InboxCursor | None = None  # the page newer than this position
    limit: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class InboxRow:
    contact: ContactInfo
    last_inbound_at: datetime
    preview: str | None  # the contact's newest message
    preview_direction: str | None
    findings: int  # the last audit's findings for the contact

    @property
    def cursor(self) -> InboxCursor:
        return InboxCursor(self.last_inbound_at, self.contact.id)


@dataclass(frozen=True, slots=True)
class InboxPage:
    rows: list[InboxRow]
    newer: InboxCursor | None  # a newer page exists: link with before=
    older: InboxCursor | None  # an older page exists: link with after=


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped.lower()}%"


def _search_condition(search: Search) -> ColumnElement[bool]:
    c = contacts
    username = func.lower(c.c.username).like(_like_prefix(search.value), escape="\\")
    if search.kind is SearchKind.INTERNAL:
        return c.c.id == int(search.value)
    if search.kind is SearchKind.USERNAME:
        return username
    return or_(username, c.c.external_id == search.value)


def status_condition(status: ContactStatus, now: datetime) -> ColumnElement[bool]:
    """ContactInfo.status() in SQL: customer, then stopped, then handoff, else active."""
    c = contacts
    live = and_(c.c.converted_at.is_(None), c.c.stopped_at.is_(None))
    if status is ContactStatus.CUSTOMER:
        return c.c.converted_at.is_not(None)
    if status is ContactStatus.STOPPED:
        return and_(c.c.converted_at.is_(None), c.c.stopped_at.is_not(None))
    if status is ContactStatus.HANDOFF:
        return and_(live, c.c.handoff_until > now)
    return and_(live, or_(c.c.handoff_until.is_(None), c.c.handoff_until <= now))


def _contact_columns() -> list[Any]:
    return list(CONTACT_INFO_COLUMNS)


def _contact_info(row: Any) -> ContactInfo:
    return ContactInfo(
        **{column.name: getattr(row, column.name) for column in CONTACT_INFO_COLUMNS}
    )


def inbox(db: Connection, query: InboxQuery, now: datetime) -> InboxPage:
    """One page of contacts, newest activity first, walked along
    ix_contacts_last_inbound_at_id with a row-value comparison (no OFFSET)."""
    c, m = contacts, messages
    position = tuple_(c.c.last_inbound_at, c.c.id)
    newest_first = query.before is None
    last_message = (
        select(func.max(m.c.id)).where(m.c.contact_id == c.c.id).scalar_subquery()
    )  # along ix_messages_contact_id_id
    preview = m.alias("preview")
    finding_count = (
        select(func.coalesce(func.sum(audit_findings.c.count), 0))
        .where(audit_findings.c.contact_id == c.c.id)
        .scalar_subquery()
    )
    statement: Select[Any] = select(
        *_contact_columns(),
        c.c.last_inbound_at,
        preview.c.text.label("preview"),
        preview.c.direction.label("preview_direction"),
        finding_count.label("findings"),
    ).select_from(c.outerjoin(preview, preview.c.id == last_message))
    where: list[ColumnElement[bool]] = []
    if query.search is not None:
        where.append(_search_condition(query.search))
    if query.stage == NEW_STAGE:
        where.append(c.c.stage.is_(None))
    elif query.stage is not None:
        where.append(c.c.stage == query.stage)
    if query.status is not None:
        where.append(status_condition(query.status, now))
    if query.with_findings:
        where.append(
            select(audit_findings.c.contact_id)
            .where(audit_findings.c.contact_id == c.c.id)
            .exists()
        )
    if query.after is not None:
        where.append(position < tuple_(query.after.at, query.after.id))
    if query.before is not None:
        where.append(position > tuple_(query.before.at, query.before.id))
    order = (
        (c.c.last_inbound_at.desc(), c.c.id.desc())
        if newest_first
        else (c.c.last_inbound_at.asc(), c.c.id.asc())
    )
    fetched = list(
        db.execute(statement.where(*where).order_by(*order).limit(query.limit + 1)).all()
    )
    more = len(fetched) > query.limit
    fetched = fetched[: query.limit]
    if not newest_first:
        fetched.reverse()
    rows = [
        InboxRow(
            _contact_info(row),
            row.last_inbound_at,
            row.preview,
            row.preview_direction,
            int(row.findings or 0),
        )
        for row in fetched
    ]
    if not rows:
        return InboxPage(rows, None, None)
    # Walking older: a newer page exists because we came from one; the extra row says
    # whether an older one does. Walking newer: the other way round.
    has_newer = more if not newest_first else query.after is not None
    has_older = more if newest_first else True
    return InboxPage(
        rows,
        rows[0].cursor if has_newer else None,
        rows[-1].cursor if has_older else None,
    )


# -- the overview ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tokens:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True, slots=True)
class Today:
    day: date
    inbound: int
    replies: int
    skips: dict[str, int]  # by reason
    new_conversations: int
    tokens: Tokens


@dataclass(frozen=True, slots=True)
class Funnel:
    contacts: int
    by_stage: dict[str, int]  # NEW_STAGE for contacts never answered
    link_sent: int  # contacts who were sent the tracked link
    clicked: int  # … of them who followed it
    converted: int


@dataclass(frozen=True, slots=True)
class GuardPause:
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Overview:
    control: ControlState
    today: Today
    funnel: Funnel
    replies_per_day: list[tuple[date, int]]  # oldest first, every day, zeros included
    guard_pauses: list[GuardPause]  # newest first


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day)
    return start, start + timedelta(days=1)


def _today(db: Connection, day: date) -> Today:
    m, e = messages, events
    start, end = _day_bounds(day)
    delivered = m.c.cancelled.is_(false())
    today_m = and_(m.c.created_at >= start, m.c.created_at < end)
    counts = {
        direction: int(count)
        for direction, count in db.execute(
            select(m.c.direction, func.count()).where(today_m, delivered).group_by(m.c.direction)
        )
    }
    skips = {
        str(reason): int(count)
        for reason, count in db.execute(
            select(e.c.reason, func.count())
            .where(
                e.c.kind == EventKind.SKIPPED.value, e.c.created_at >= start, e.c.created_at < end
            )
            .group_by(e.c.reason)
            .order_by(func.count().desc())
        )
    }
    engaged = db.scalar(select(daily_budget.c.engaged).where(daily_budget.c.day == day)) or 0
    return Today(
        day,
        counts.get("in", 0),
        counts.get("out", 0),
        skips,
        int(engaged),
        tokens_on(db, day),
    )


def tokens_on(db: Connection, day: date) -> Tokens:
    """The model tokens of one UTC day's replies (the console's spend, and the alerts')."""
    m = messages
    start, end = _day_bounds(day)
    usage = db.execute(
        select(
            func.coalesce(func.sum(m.c.input_tokens), 0),
            func.coalesce(func.sum(m.c.output_tokens), 0),
            func.coalesce(func.sum(m.c.cache_read_tokens), 0),
            func.coalesce(func.sum(m.c.cache_write_tokens), 0),
        ).where(
            m.c.created_at >= start,
            m.c.created_at < end,
            m.c.direction == "out",  # cancelled replies cost tokens too
        )
    ).one()
    return Tokens(*(int(value) for value in usage))


def _funnel(db: Connection) -> Funnel:
    c, t, k = contacts, link_tokens, link_clicks
    by_stage = {
        stage or NEW_STAGE: int(count)
        for stage, count in db.execute(select(c.c.stage, func.count()).group_by(c.c.stage))
    }
    link_sent = db.scalar(select(func.count(func.distinct(t.c.contact_id)))) or 0
    clicked = (
        db.scalar(select(func.count(func.distinct(t.c.contact_id))).join(k, k.c.token == t.c.token))
        or 0
    )
    converted = (
        db.scalar(select(func.count()).select_from(c).where(c.c.converted_at.is_not(None))) or 0
    )
    return Funnel(sum(by_stage.values()), by_stage, int(link_sent), int(clicked), int(converted))


def _replies_per_day(db: Connection, today: date) -> list[tuple[date, int]]:
    """One range count per day on the partial index of delivered replies
    (`ix_messages_replies_created_at`): no per-row date arithmetic, no table rows read, so
    a month of a million messages stays in tens of milliseconds."""
    first = today - timedelta(days=REPLY_DAYS - 1)
    days = [first + timedelta(days=n) for n in range(REPLY_DAYS)]
    counts = []
    for day in days:
        start, end = _day_bounds(day)
        counts.append((day, int(db.scalar(_REPLIES_BETWEEN, {"start": start, "end": end}) or 0)))
    return counts


# Its WHERE repeats the partial index's, term for term, so both databases use the index.
_REPLIES_BETWEEN = (
    select(func.count())
    .select_from(messages)
    .where(
        REPLIED,
        messages.c.created_at >= bindparam("start"),
        messages.c.created_at < bindparam("end"),
    )
)


def _guard_pauses(db: Connection, since: datetime, limit: int = 5) -> list[GuardPause]:
    e = events
    rows = db.execute(
        select(e.c.created_at, e.c.detail)
        .where(e.c.kind == EventKind.PAUSED.value, e.c.created_at >= since)
        .order_by(e.c.id.desc())
        .limit(RECENT_PAUSES)
    )
    pauses = [
        GuardPause(at, str(detail.get("reason") or ""))
        for at, detail in rows
        if isinstance(detail, dict) and detail.get("by") == GUARD_BY
    ]
    return pauses[:limit]


def overview(db: Connection, now: datetime) -> Overview:
    today = now.date()
    return Overview(
        control=Control(db).state(),
        today=_today(db, today),
        funnel=_funnel(db),
        replies_per_day=_replies_per_day(db, today),
        guard_pauses=_guard_pauses(db, now - timedelta(days=REPLY_DAYS)),
    )


# -- one contact -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactHeader:
    contact: ContactInfo
    created_at: datetime
    last_inbound_at: datetime
    handoff_at: datetime | None
    facts: list[tuple[str, str]]  # kind, value


def contact_header(db: Connection, contact_id: int) -> ContactHeader | None:
    c = contacts
    row = db.execute(
        select(*_contact_columns(), c.c.created_at, c.c.last_inbound_at, c.c.handoff_at).where(
            c.c.id == contact_id
        )
    ).first()
    if row is None:
        return None
    facts = [
        (str(kind), str(value))
        for kind, value in db.execute(
            select(contact_facts.c.kind, contact_facts.c.value)
            .where(contact_facts.c.contact_id == contact_id)
            .order_by(contact_facts.c.kind)
        )
    ]
    return ContactHeader(
        _contact_info(row), row.created_at, row.last_inbound_at, row.handoff_at, facts
    )


# -- one contact's timeline ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineCursor:
    """The newest (or, for "load earlier", oldest) message id and event id shown:
    `<message id>_<event id>`."""

    message_id: int
    event_id: int

    def encode(self) -> str:
        return f"{self.message_id}_{self.event_id}"

    @classmethod
    def parse(cls, text: str) -> TimelineCursor:
        first, sep, second = text.partition("_")
        parts = (first, second)
        if (
            not sep
            or len(text) > 40
            or not all(part.isascii() and part.isdigit() and len(part) <= 19 for part in parts)
        ):
            raise ValueError("a timeline cursor is <message id>_<event id>, e.g. 120_348")
        message_id, event_id = (int(part) for part in parts)
        if max(message_id, event_id) > MAX_CURSOR_ID:
            raise ValueError("the timeline cursor is out of range")
        return cls(message_id, event_id)


class EntryKind(StrEnum):
    IN = "in"
    OUT = "out"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class MessageEntry:
    id: int
    at: datetime
    direction: str  # "in" | "out"
    kind: str  # text, reply, exit, goodbye, human, boundary, media kinds…
    text: str
    media_url: str | None
    stage: str | None
    author: str | None  # a person wrote it (messages.author)
    cancelled: bool
    deleted: bool  # the contact unsent it (messages.deleted_at)
    model: str | None
    tokens: Tokens
    brain_ms: int | None
    attempts: int | None
    delivery_state: str | None
    delivery_via: str | None
    delivery_attempts: int | None
    delivery_error: str | None
    # The `sent` / `exit` decision that committed this reply (engine/compose.py detail()).
    decision: dict[str, Any] | None = None

    @property
    def entry_kind(self) -> EntryKind:
        return EntryKind.IN if self.direction == "in" else EntryKind.OUT


@dataclass(frozen=True, slots=True)
class EventEntry:
    id: int
    at: datetime
    kind: str  # EventKind value
    reason: str | None
    detail: dict[str, Any]
    latency_ms: int | None

    @property
    def entry_kind(self) -> EntryKind:
        return EntryKind.EVENT


TimelineEntry = MessageEntry | EventEntry
# A reply's own decision is shown on the reply, not as a line of its own.
_FOLDED = (EventKind.SENT.value, EventKind.EXIT.value)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    entries: list[TimelineEntry]  # oldest first
    newest: TimelineCursor  # poll for what comes after this
    earlier: TimelineCursor | None  # older entries exist: "load earlier" with before=


def _message_query(contact_id: int) -> Select[Any]:
    m, d = messages, deliveries
    return (
        select(
            m.c.id,
            m.c.created_at,
            m.c.direction,
            m.c.kind,
            m.c.text,
            m.c.media_url,
            m.c.stage,
            m.c.author,
            m.c.cancelled,
            m.c.deleted_at,
            m.c.model,
            m.c.input_tokens,
            m.c.output_tokens,
            m.c.cache_read_tokens,
            m.c.cache_write_tokens,
            m.c.brain_ms,
            m.c.attempts,
            d.c.state.label("delivery_state"),
            d.c.via.label("delivery_via"),
            d.c.attempts.label("delivery_attempts"),
            d.c.last_error.label("delivery_error"),
        )
        .outerjoin(d, d.c.message_id == m.c.id)
        .where(m.c.contact_id == contact_id)
    )


def _event_query(contact_id: int) -> Select[Any]:
    e = events
    return select(
        e.c.id,
        e.c.created_at,
        e.c.kind,
        e.c.reason,
        e.c.detail,
        e.c.latency_ms,
        e.c.message_id,
    ).where(e.c.contact_id == contact_id)


def _entries(message_rows: Sequence[Any], event_rows: Sequence[Any]) -> list[TimelineEntry]:
    decisions = {
        row.message_id: dict(row.detail or {})
        for row in event_rows
        if row.kind in _FOLDED and row.message_id is not None
    }
    entries: list[TimelineEntry] = [
        MessageEntry(
            id=row.id,
            at=row.created_at,
            direction=row.direction,
            kind=row.kind,
            text=row.text,
            media_url=row.media_url,
            stage=row.stage,
            author=row.author,
            cancelled=bool(row.cancelled),
            deleted=row.deleted_at is not None,
            model=row.model,
            tokens=Tokens(
                row.input_tokens or 0,
                row.output_tokens or 0,
                row.cache_read_tokens or 0,
                row.cache_write_tokens or 0,
            ),
            brain_ms=row.brain_ms,
            attempts=row.attempts,
            delivery_state=row.delivery_state,
            delivery_via=row.delivery_via,
            delivery_attempts=row.delivery_attempts,
            delivery_error=row.delivery_error,
            decision=decisions.get(row.id),
        )
        for row in message_rows
    ]
    shown = {row.id for row in message_rows}
    entries += [
        EventEntry(
            row.id,
            row.created_at,
            row.kind,
            row.reason,
            dict(row.detail) if isinstance(row.detail, dict) else {},
            row.latency_ms,
        )
        for row in event_rows
        if not (row.kind in _FOLDED and row.message_id in shown)
    ]
    return entries


def _order(entry: TimelineEntry) -> tuple[datetime, int, int]:
    # Messages before the decisions taken at the same instant, as `dmpilot history` does.
    return (entry.at, isinstance(entry, EventEntry), entry.id)


def timeline(
    db: Connection,
    contact_id: int,
    *,
    before: TimelineCursor | None = None,
    limit: int = TIMELINE_WINDOW,
) -> TimelinePage:
    """The newest `limit` entries (older than `before`, for "load earlier"): the newest
    `limit` of each table, merged by time, cut to `limit`."""
    m, e = messages, events
    message_query = _message_query(contact_id)
    event_query = _event_query(contact_id)
    if before is not None:
        message_query = message_query.where(m.c.id < before.message_id)
        event_query = event_query.where(e.c.id < before.event_id)
    message_rows = db.execute(message_query.order_by(m.c.id.desc()).limit(limit + 1)).all()
    event_rows = db.execute(event_query.order_by(e.c.id.desc()).limit(limit + 1)).all()
    entries = sorted(_entries(message_rows, event_rows), key=_order)
    cut = len(entries) > limit or len(message_rows) > limit or len(event_rows) > limit
    entries = entries[-limit:]
    # The poll's start comes from the rows read, not a second query: a row committed in
    # between would otherwise be skipped by the poll and never shown.
    newest = before or TimelineCursor(
        max((row.id for row in message_rows), default=0),
        max((row.id for row in event_rows), default=0),
    )
    earlier: TimelineCursor | None = None
    if cut:
        # What was cut is older than everything shown; where a table shows nothing, its
        # boundary stays where it was.
        shown_messages = [x.id for x in entries if isinstance(x, MessageEntry)]
        shown_events = [x.id for x in entries if isinstance(x, EventEntry)]
        earlier = TimelineCursor(
            min(shown_messages, default=before.message_id if before else MAX_CURSOR_ID),
            min(shown_events, default=before.event_id if before else MAX_CURSOR_ID),
        )
    return TimelinePage(entries, newest, earlier)


def timeline_after(
    db: Connection, contact_id: int, after: TimelineCursor, limit: int = TIMELINE_WINDOW
) -> TimelinePage:
    """What was written for the contact after `after` (the live poll), oldest first."""
    m, e = messages, events
    message_rows = db.execute(
        _message_query(contact_id).where(m.c.id > after.message_id).order_by(m.c.id).limit(limit)
    ).all()
    event_rows = db.execute(
        _event_query(contact_id).where(e.c.id > after.event_id).order_by(e.c.id).limit(limit)
    ).all()
    entries = sorted(_entries(message_rows, event_rows), key=_order)
    newest = TimelineCursor(
        max((row.id for row in message_rows), default=after.message_id),
        max((row.id for row in event_rows), default=after.event_id),
    )
    return TimelinePage(entries, newest, None)


# -- the last audit --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindingRow:
    contact_id: int
    external_id: str
    username: str | None
    name: str | None
    counts: dict[Finding, int] = field(default_factory=dict)
    found_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def stored_findings(db: Connection, limit: int = 500) -> list[FindingRow]:
    """The last audit's findings per contact, most findings first."""
    f, c = audit_findings, contacts
    worst = (
        select(f.c.contact_id, func.sum(f.c.count).label("total"))
        .group_by(f.c.contact_id)
        .order_by(func.sum(f.c.count).desc(), f.c.contact_id)
        .limit(limit)
        .subquery()
    )
    rows = db.execute(
        select(
            f.c.contact_id,
            f.c.finding,
            f.c.count.label("found"),
            f.c.found_at,
            c.c.external_id,
            c.c.username,
            c.c.name,
            worst.c.total,
        )
        .join(worst, worst.c.contact_id == f.c.contact_id)
        .outerjoin(c, c.c.id == f.c.contact_id)
        .order_by(worst.c.total.desc(), f.c.contact_id, f.c.finding)
    ).all()
    grouped: dict[int, FindingRow] = {}
    counts: dict[int, dict[Finding, int]] = defaultdict(dict)
    for row in rows:
        if row.contact_id not in grouped:
            grouped[row.contact_id] = FindingRow(
                row.contact_id,
                row.external_id or str(row.contact_id),
                row.username,
                row.name,
                counts[row.contact_id],
                row.found_at,
            )
        try:
            counts[row.contact_id][Finding(row.finding)] = int(row.found)
        except ValueError:
            continue  # a finding kind this version no longer knows
    return list(grouped.values())
