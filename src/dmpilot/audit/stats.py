"""Funnel and operations figures, computed in SQL over contacts, messages and events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Date, func, select

from dmpilot.domain.persona import Persona
from dmpilot.store import Store
from dmpilot.store.schema import contacts, events, link_clicks, link_tokens, messages

BLOCKED_REASONS = ("duplicate", "coalesced", "repetition", "broadcast", "invalid")
ERROR_REASONS = ("error", "timeout", "busy", "lease_lost")


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens (defaults: Claude Haiku 4.5)."""

    input: float = 1.0
    output: float = 5.0

    def cost(
        self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int
    ) -> float:
        return (
            input_tokens * self.input
            + cache_write * self.input * 1.25
            + cache_read * self.input * 0.1
            + output_tokens * self.output
        ) / 1_000_000


@dataclass
class Stats:
    contacts: int
    by_stage: dict[str, int]
    reached: list[tuple[str, int, float | None]]  # stage, contacts reached, from previous
    inbound: int
    outbound: int
    exits: int
    stops: dict[str, int]
    blocked: dict[str, int]
    errors: dict[str, int]
    per_day: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)  # per stage: sent, clicked

    @property
    def messages_per_contact(self) -> float:
        return (self.inbound + self.outbound) / self.contacts if self.contacts else 0.0


def compute(
    store: Store, persona: Persona, since: datetime | None = None, prices: Prices | None = None
) -> Stats:
    prices = prices or Prices()
    m, c, e = messages, contacts, events
    since_m = [m.c.created_at >= since] if since else []
    since_e = [e.c.created_at >= since] if since else []
    with store.engine.connect() as db:
        contact_count = db.scalar(select(func.count()).select_from(c)) or 0
        by_stage = {
            stage or "new": count
            for stage, count in db.execute(select(c.c.stage, func.count()).group_by(c.c.stage))
        }
        reached_rows = dict(
            db.execute(
                select(m.c.stage, func.count(func.distinct(m.c.contact_id)))
                .where(m.c.direction == "out", m.c.stage.is_not(None), *since_m)
                .group_by(m.c.stage)
            ).all()
        )
        directions = dict(
            db.execute(
                select(m.c.direction, func.count()).where(*since_m).group_by(m.c.direction)
            ).all()
        )
        exits = (
            db.scalar(
                select(func.count()).where(m.c.direction == "out", m.c.kind == "exit", *since_m)
            )
            or 0
        )
        stops = dict(
            db.execute(
                select(c.c.stop_reason, func.count())
                .where(c.c.stop_reason.is_not(None))
                .group_by(c.c.stop_reason)
            ).all()
        )
        skipped = dict(
            db.execute(
                select(e.c.reason, func.count())
                .where(e.c.kind == "skipped", *since_e)
                .group_by(e.c.reason)
            ).all()
        )
        day = func.date(m.c.created_at, type_=Date).label("day")  # date() on both databases
        per_day = db.execute(
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
        ).all()

    links = _links(store, since)
    reached: list[tuple[str, int, float | None]] = []
    previous: int | None = None
    for spec in persona.stages:
        count = reached_rows.get(spec.name, 0)
        reached.append((spec.name, count, count / previous if previous else None))
        previous = count
    days = []
    for when, replies, tokens_in, tokens_out, cache_read, cache_write in per_day:
        cost = prices.cost(tokens_in, tokens_out, cache_read, cache_write)
        days.append(
            {
                "day": str(when),
                "replies": replies,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cache_read_tokens": cache_read,
                "cache_write_tokens": cache_write,
                "cost_usd": round(cost, 6),
                "cost_per_reply_usd": round(cost / replies, 6) if replies else 0.0,
            }
        )
    return Stats(
        contacts=contact_count,
        by_stage=by_stage,
        reached=reached,
        inbound=directions.get("in", 0),
        outbound=directions.get("out", 0),
        exits=exits,
        stops=stops,
        blocked={reason: skipped.get(reason, 0) for reason in BLOCKED_REASONS},
        errors={reason: skipped.get(reason, 0) for reason in ERROR_REASONS},
        per_day=days,
        links=links,
    )


def _links(store: Store, since: datetime | None) -> list[dict[str, Any]]:
    """Tracked links sent and clicked (at least once), per stage."""
    t, k = link_tokens, link_clicks
    clicked = select(k.c.token).distinct().subquery()
    query = (
        select(t.c.stage, func.count(), func.count(clicked.c.token))
        .outerjoin(clicked, clicked.c.token == t.c.token)
        .where(*([t.c.created_at >= since] if since else []))
        .group_by(t.c.stage)
        .order_by(t.c.stage)
    )
    with store.engine.connect() as db:
        rows = db.execute(query).all()
    return [
        {"stage": stage, "sent": sent, "clicked": hits, "rate": round(hits / sent, 4)}
        for stage, sent, hits in rows
    ]
