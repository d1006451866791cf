"""The audit's checks: set-based SQL (window functions over indexed columns), plus the live
code on the few rows SQL cannot judge: loops (fuzzy repetition on each contact's last five
replies) and the link (every spelling, through domain.links).

Every check returns {contact_id: count}. Times are compared in seconds with the
dialect's own arithmetic (julianday on SQLite, epoch on PostgreSQL). Replies whose
delivery was cancelled never reached anyone and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy import cast as sql_cast

from dmpilot.domain.delivery import DeliveryKind
from dmpilot.domain.findings import Finding
from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.persona import Persona
from dmpilot.domain.repetition import distinct_texts
from dmpilot.store.schema import contacts, deliveries, messages

# Messages a person wrote (handoff): the bot's quality checks leave them out.
HUMAN = DeliveryKind.HUMAN.value
NUDGE = DeliveryKind.NUDGE.value  # follows our own reply on purpose: not a double reply
LOOP_WINDOW = 5
LOOP_MAX_DISTINCT = 2
REPEAT_MIN = 3
UNANSWERED_AFTER = timedelta(minutes=10)

Counts = dict[int, int]


@dataclass(frozen=True)
class Scope:
    since: datetime | None
    contact_id: int | None
    now: datetime
    persona: Persona
    similarity_threshold: float
    links: LinkMatcher

    def messages_where(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [messages.c.cancelled.is_(false())]
        if self.since is not None:
            where.append(messages.c.created_at >= self.since)
        if self.contact_id is not None:
            where.append(messages.c.contact_id == self.contact_id)
        return where


def seconds_between(db: Connection, later: Any, earlier: Any) -> ColumnElement[float]:
    if db.dialect.name == "postgresql":
        return cast(ColumnElement[float], func.extract("epoch", later - earlier))
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _spread(rows: Iterable[Sequence[Any]], findings: tuple[Finding, ...]) -> dict[Finding, Counts]:
    """Rows of (contact_id, count per finding…) into {finding: {contact_id: count}}."""
    found: dict[Finding, Counts] = defaultdict(dict)
    for contact_id, *counts in rows:
        for finding, count in zip(findings, counts, strict=True):
            if count:
                found[finding][contact_id] = int(count)
    return found


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def sequence_checks(db: Connection, scope: Scope) -> dict[Finding, Counts]:
    """Passes over messages in order, each along an index so no full sort is needed."""
    found: dict[Finding, Counts] = defaultdict(dict)
    found.update(_conversation_order(db, scope))
    found.update(_timed_duplicates(db, scope))
    found.update(delivery_problems(db, scope))
    return found


def _conversation_order(db: Connection, scope: Scope) -> dict[Finding, Counts]:
    """Along (contact, id): two replies in a row, and replies in another language than
    the message they answer (when that message's language is known and spoken)."""
    m = messages
    rows = (
        select(
            m.c.contact_id,
            m.c.direction,
            m.c.kind,
            m.c.language,
            func.lag(m.c.direction)
            .over(partition_by=m.c.contact_id, order_by=m.c.id)
            .label("previous_direction"),
            func.lag(m.c.language)
            .over(partition_by=m.c.contact_id, order_by=m.c.id)
            .label("previous_language"),
            func.lag(m.c.kind)
            .over(partition_by=m.c.contact_id, order_by=m.c.id)
            .label("previous_kind"),
        )
        .where(*scope.messages_where())
        .subquery("rows")
    )
    out = rows.c.direction == "out"
    # A person writing twice in a row (handoff) is theirs to judge, not the bot's; one
    # nudge after a reply is the follow-up, two in a row are not.
    bot_after_bot = and_(
        out,
        rows.c.kind != HUMAN,
        rows.c.previous_direction == "out",
        rows.c.previous_kind != HUMAN,
        or_(rows.c.kind != NUDGE, rows.c.previous_kind == NUDGE),
    )
    wrong_language = and_(
        out,
        rows.c.kind == "reply",
        rows.c.previous_direction == "in",
        rows.c.previous_language.in_(scope.persona.languages),
        rows.c.language != rows.c.previous_language,
    )
    query = select(
        rows.c.contact_id,
        _flag(bot_after_bot),
        _flag(wrong_language),
    ).group_by(rows.c.contact_id)
    return _spread(db.execute(query), (Finding.DOUBLE_REPLY, Finding.WRONG_LANGUAGE))


def _timed_duplicates(db: Connection, scope: Scope) -> dict[Finding, Counts]:
    """Along (contact, text_key): the same reply again within 60 s / 5 min."""
    m = messages
    rows = (
        select(
            m.c.contact_id,
            m.c.created_at,
            func.lag(m.c.created_at)
            .over(partition_by=(m.c.contact_id, m.c.text_key), order_by=m.c.id)
            .label("previous_at"),
        )
        .where(m.c.direction == "out", m.c.kind != HUMAN, *scope.messages_where())
        .subquery("rows")
    )
    gap = seconds_between(db, rows.c.created_at, rows.c.previous_at)
    query = (
        select(rows.c.contact_id, _flag(gap <= 60), _flag(gap <= 300))
        .where(rows.c.previous_at.is_not(None))
        .group_by(rows.c.contact_id)
    )
    return _spread(db.execute(query), (Finding.DUPLICATE_60S, Finding.DUPLICATE_5M))


def repeated_messages(db: Connection, scope: Scope) -> Counts:
    """Texts (normalised, as the live check compares them) sent 3+ times to one contact."""
    groups = (
        select(messages.c.contact_id)
        .where(messages.c.direction == "out", messages.c.kind != HUMAN, *scope.messages_where())
        .group_by(messages.c.contact_id, messages.c.text_key)
        .having(func.count() >= REPEAT_MIN)
        .subquery()
    )
    query = select(groups.c.contact_id, func.count()).group_by(groups.c.contact_id)
    return {contact_id: count for contact_id, count in db.execute(query)}


def loops(db: Connection, scope: Scope) -> Counts:
    """Contacts whose last five replies hold at most two distinct texts (fuzzy, live code).
    A reply whose text was blanked (retention, a forgotten contact) is judged by its text
    key: exact repeats are still found, and blank texts never look alike."""
    m = messages
    by_key = literal("#") + func.coalesce(m.c.text_key, sql_cast(m.c.id, String))
    ranked = (
        select(
            m.c.contact_id,
            case((m.c.redacted_at.is_(None), m.c.text), else_=by_key).label("text"),
            func.row_number()
            .over(partition_by=m.c.contact_id, order_by=m.c.id.desc())
            .label("rank"),
        )
        .where(m.c.direction == "out", m.c.kind == "reply", *scope.messages_where())
        .subquery()
    )
    query = select(ranked.c.contact_id, ranked.c.text).where(ranked.c.rank <= LOOP_WINDOW)
    recent: dict[int, list[str]] = defaultdict(list)
    for contact_id, text in db.execute(query):
        recent[contact_id].append(text)
    found: Counts = {}
    for contact_id, texts in recent.items():
        if len(texts) < LOOP_WINDOW:
            continue
        if distinct_texts(texts, scope.similarity_threshold) <= LOOP_MAX_DISTINCT:
            found[contact_id] = 1
    return found


def repeated_exits(db: Connection, scope: Scope) -> Counts:
    """A second goodbye inside one cycle (closer than the reactivation delay, if any)."""
    m = messages
    exits = (
        select(
            m.c.contact_id,
            m.c.created_at,
            func.lag(m.c.created_at)
            .over(partition_by=m.c.contact_id, order_by=m.c.id)
            .label("previous_at"),
        )
        .where(m.c.direction == "out", m.c.kind == "exit", *scope.messages_where())
        .subquery()
    )
    condition: ColumnElement[bool] = exits.c.previous_at.is_not(None)
    days = scope.persona.reactivate_after_days
    if days is not None:
        gap = seconds_between(db, exits.c.created_at, exits.c.previous_at)
        condition = and_(condition, gap < days * 86400)
    query = select(exits.c.contact_id, _flag(condition)).group_by(exits.c.contact_id)
    return {contact_id: int(count) for contact_id, count in db.execute(query) if count}


def sent_after_stop(db: Connection, scope: Scope) -> Counts:
    m, c = messages, contacts
    query = (
        select(m.c.contact_id, func.count())
        .join(c, c.c.id == m.c.contact_id)
        .where(
            m.c.direction == "out",
            m.c.kind != "goodbye",  # the one answer to an opt-out follows its stop
            c.c.stopped_at.is_not(None),
            m.c.created_at > c.c.stopped_at,
            *scope.messages_where(),
        )
        .group_by(m.c.contact_id)
    )
    return {contact_id: count for contact_id, count in db.execute(query)}


def links_over_budget(db: Connection, scope: Scope) -> Counts:
    """Messages carrying the persona's link, in any spelling or its tracked form, beyond
    the budget since the contact's cycle began. SQL narrows to texts that name the link's
    host or a tracked path; domain.links decides."""
    m, c = messages, contacts
    budget = scope.persona.link.budget
    named = or_(
        *(func.lower(m.c.text).contains(host, autoescape=True) for host in scope.links.hosts),
        m.c.text.contains("/l/", autoescape=True),
    )
    query = (
        select(m.c.contact_id, m.c.text)
        .join(c, c.c.id == m.c.contact_id)
        .where(
            m.c.direction == "out",
            m.c.created_at >= c.c.cycle_started_at,
            named,
            *scope.messages_where(),
        )
    )
    carried: Counts = defaultdict(int)
    for contact_id, text in db.execute(query):
        if scope.links.contains(text):
            carried[contact_id] += 1
    return {cid: count - budget for cid, count in carried.items() if count > budget}


def delivery_problems(db: Connection, scope: Scope) -> dict[Finding, Counts]:
    """Deliveries that ended `unknown` (maybe sent, maybe not) or `failed`."""
    d = deliveries
    where: list[ColumnElement[bool]] = [d.c.state.in_(("unknown", "failed"))]
    if scope.since is not None:
        where.append(d.c.created_at >= scope.since)
    if scope.contact_id is not None:
        where.append(d.c.contact_id == scope.contact_id)
    query = (
        select(d.c.contact_id, _flag(d.c.state == "unknown"), _flag(d.c.state == "failed"))
        .where(*where)
        .group_by(d.c.contact_id)
    )
    return _spread(db.execute(query), (Finding.DELIVERY_UNKNOWN, Finding.DELIVERY_FAILED))


def unanswered(db: Connection, scope: Scope) -> Counts:
    """Inbound after a live contact's last reply, older than ten minutes."""
    m, c = messages, contacts
    last_out = (
        select(m.c.contact_id, func.max(m.c.id).label("last_out"))
        .where(m.c.direction == "out", m.c.cancelled.is_(false()))
        .group_by(m.c.contact_id)
        .subquery()
    )
    query = (
        select(m.c.contact_id, func.count())
        .join(c, c.c.id == m.c.contact_id)
        .outerjoin(last_out, last_out.c.contact_id == m.c.contact_id)
        .where(
            m.c.direction == "in",
            c.c.stopped_at.is_(None),
            # A person is answering a contact in handoff: its silence is not the bot's.
            or_(c.c.handoff_until.is_(None), c.c.handoff_until <= scope.now),
            m.c.id > func.coalesce(last_out.c.last_out, literal(0)),
            m.c.created_at < scope.now - UNANSWERED_AFTER,
            *scope.messages_where(),
        )
        .group_by(m.c.contact_id)
    )
    return {contact_id: count for contact_id, count in db.execute(query)}


SINGLE_CHECKS: dict[Finding, Callable[[Connection, Scope], Counts]] = {
    Finding.REPEATED_MESSAGE: repeated_messages,
    Finding.POTENTIAL_LOOP: loops,
    Finding.EXIT_REPEATED: repeated_exits,
    Finding.SENT_AFTER_STOP: sent_after_stop,
    Finding.LINK_OVER_BUDGET: links_over_budget,
    Finding.UNANSWERED: unanswered,
}


Progress = Callable[[str], None]
STEPS = 1 + len(SINGLE_CHECKS)


def run_checks(
    db: Connection, scope: Scope, progress: Progress
) -> tuple[dict[Finding, Counts], int, int]:
    """Every check over the scope: (findings, messages in scope, contacts in scope)."""
    found: dict[Finding, Counts] = {}
    progress("duplicates, double replies, languages, deliveries")
    found.update(sequence_checks(db, scope))
    for finding, check in SINGLE_CHECKS.items():
        progress(finding.value.lower().replace("_", " "))
        found[finding] = check(db, scope)
    row = db.execute(
        select(func.count(), func.count(func.distinct(messages.c.contact_id))).where(
            *scope.messages_where()
        )
    ).one()
    return found, int(row[0]), int(row[1])


def contact_names(db: Connection, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """Subscriber id and username of each contact, for the report."""
    names: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.execute(
            select(contacts.c.id, contacts.c.external_id, contacts.c.username).where(
                contacts.c.id.in_(chunk)
            )
        )
        names.update({cid: (external, username) for cid, external, username in rows})
    return names
