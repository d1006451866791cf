"""Raw funnel and operations figures, in SQL over contacts, messages, events, deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Date, case, exists, false, func, select
from sqlalchemy.orm import aliased

from dmpilot.domain.decision import EventKind
from dmpilot.domain.delivery import DeliveryKind, DeliveryState
from dmpilot.store.schema import contacts, deliveries, events, link_clicks, link_tokens, messages


@dataclass
class RawStats:
    contacts: int
    by_stage: dict[str, int]
    reached: dict[str, int]  # stage → contacts that got a reply in it
    directions: dict[str, int]
    exits: int
    stops: dict[str, int]
    skipped: dict[str, int]
    # (day, replies, input, output, cache read, cache write tokens)
    per_day: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[str | None, int, int]] = field(default_factory=list)  # stage, sent, clicked
    deliveries: dict[str, int] = field(default_factory=dict)  # by state
    # intent, contacts who showed it, of them clicked the tracked link, converted
    intents: list[tuple[str, int, int, int]] = field(default_factory=list)
    nudges_sent: int = 0  # follow-up nudges the channel took
    nudges_answered: int = 0  # … after which the contact wrote again


def raw_stats(db: Connection, since: datetime | None) -> RawStats:
    m, c, e = messages, contacts, events
    sent = m.c.cancelled.is_(false())
    since_m = [m.c.created_at >= since] if since else []
    since_e = [e.c.created_at >= since] if since else []
    contact_count = db.scalar(select(func.count()).select_from(c)) or 0
    by_stage = {
        stage or "new": count
        for stage, count in db.execute(select(c.c.stage, func.count()).group_by(c.c.stage))
    }
    reached = {
        stage: count
        for stage, count in db.execute(
            select(m.c.stage, func.count(func.distinct(m.c.contact_id)))
            .where(m.c.direction == "out", sent, m.c.stage.is_not(None), *since_m)
            .group_by(m.c.stage)
        )
    }
    directions = {
        direction: count
        for direction, count in db.execute(
            select(m.c.direction, func.count()).where(sent, *since_m).group_by(m.c.direction)
        )
    }
    exits = (
        db.scalar(
            select(func.count()).where(m.c.direction == "out", m.c.kind == "exit", sent, *since_m)
        )
        or 0
    )
    stops = {
        reason: count
        for reason, count in db.execute(
            select(c.c.stop_reason, func.count())
            .where(c.c.stop_reason.is_not(None))
            .group_by(c.c.stop_reason)
        )
    }
    skipped = {
        reason: count
        for reason, count in db.execute(
            select(e.c.reason, func.count())
            .where(e.c.kind == EventKind.SKIPPED.value, *since_e)
            .group_by(e.c.reason)
        )
    }
    day = func.date(m.c.created_at, type_=Date).label("day")  # date() on both databases
    per_day = [
        tuple(row)
        for row in db.execute(
            select(
                day,
                func.count(),
                func.coalesce(func.sum(m.c.input_tokens), 0),
                func.coalesce(func.sum(m.c.output_tokens), 0),
                func.coalesce(func.sum(m.c.cache_read_tokens), 0),
                func.coalesce(func.sum(m.c.cache_write_tokens), 0),
            )
            .where(m.c.direction == "out", *since_m)
            .group_by(day)
            .order_by(day)
        )
    ]
    t, k = link_tokens, link_clicks
    clicked = select(k.c.token).distinct().subquery()
    links = [
        (stage, sent_count, hits)
        for stage, sent_count, hits in db.execute(
            select(t.c.stage, func.count(), func.count(clicked.c.token))
            .outerjoin(clicked, clicked.c.token == t.c.token)
            .where(*([t.c.created_at >= since] if since else []))
            .group_by(t.c.stage)
            .order_by(t.c.stage)
        )
    ]
    d = deliveries
    by_state = {
        state: count
        for state, count in db.execute(
            select(d.c.state, func.count())
            .where(*([d.c.created_at >= since] if since else []))
            .group_by(d.c.state)
        )
    }
    clickers = select(t.c.contact_id).join(k, k.c.token == t.c.token).distinct().scalar_subquery()
    shown = e.c.kind == EventKind.INTENT.value
    intents = [
        (str(intent), int(contacts_n), int(clicked_n), int(converted_n))
        for intent, contacts_n, clicked_n, converted_n in db.execute(
            select(
                e.c.reason,
                func.count(func.distinct(e.c.contact_id)),
                func.count(func.distinct(case((e.c.contact_id.in_(clickers), e.c.contact_id)))),
                func.count(func.distinct(case((c.c.converted_at.is_not(None), e.c.contact_id)))),
            )
            .join(c, c.c.id == e.c.contact_id)
            .where(shown, *since_e)
            .group_by(e.c.reason)
            .order_by(e.c.reason)
        )
    ]
    nudges_sent, nudges_answered = _nudges(db, since)
    return RawStats(
        contacts=contact_count,
        by_stage=by_stage,
        reached=reached,
        directions=directions,
        exits=exits,
        stops=stops,
        skipped=skipped,
        per_day=per_day,
        links=links,
        deliveries=by_state,
        intents=intents,
        nudges_sent=nudges_sent,
        nudges_answered=nudges_answered,
    )


def _nudges(db: Connection, since: datetime | None) -> tuple[int, int]:
    """Nudges sent, and of them those the contact wrote back after."""
    d = deliveries
    later = aliased(messages)
    answered = exists().where(
        later.c.contact_id == d.c.contact_id,
        later.c.direction == "in",
        later.c.id > d.c.message_id,
    )
    row = db.execute(
        select(func.count(), func.count(case((answered, 1)))).where(
            d.c.kind == DeliveryKind.NUDGE.value,
            d.c.state == DeliveryState.SENT.value,
            *([d.c.created_at >= since] if since else []),
        )
    ).one()
    return int(row[0]), int(row[1])
