"""Funnel and operations figures: the raw counts of store.reads.stats, turned into rates
and costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dmpilot.brains.models import facts_for
from dmpilot.domain.persona import Persona
from dmpilot.store.reads.stats import RawStats

BLOCKED_REASONS = ("duplicate", "coalesced", "repetition", "broadcast", "invalid")
ERROR_REASONS = ("error", "timeout", "busy", "lease_lost", "interrupted")


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens (defaults: Claude Haiku 5.5)."""

    input: float = 0.10
    output: float = 0.50
    cache_read: float = 0.01
    cache_write: float = 0.125

    @classmethod
    def for_model(
        cls, model: str, input_price: float | None = None, output_price: float | None = None
    ) -> Prices:
        """The model's own prices; the settings' prices win where they are set."""
        facts = facts_for(model)
        base = (
            cls(
                facts.input_per_mtok,
                facts.output_per_mtok,
                facts.cache_read_per_mtok,
                facts.cache_write_per_mtok,
            )
            if facts
            else cls()
        )
        if input_price is not None:
            base = cls(input_price, base.output, input_price * 0.1, input_price * 1.25)
        if output_price is not None:
            base = cls(base.input, output_price, base.cache_read, base.cache_write)
        return base

    def cost(
        self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int
    ) -> float:
        return (
            input_tokens * self.input
            + cache_write * self.cache_write
            + cache_read * self.cache_read
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
    deliveries: dict[str, int] = field(default_factory=dict)  # by state
    since: datetime | None = None
    # cache reads / all prompt tokens: how much of the prompt came from the model's cache
    cache_read_share: float = 0.0
    intents: list[dict[str, Any]] = field(default_factory=list)
    nudges_sent: int = 0  # follow-ups that reached the contact
    nudges_answered: int = 0  # … after which the contact wrote again

    @property
    def nudge_answer_rate(self) -> float | None:
        return self.nudges_answered / self.nudges_sent if self.nudges_sent else None

    @property
    def messages_per_contact(self) -> float:
        return (self.inbound + self.outbound) / self.contacts if self.contacts else 0.0


def compute(
    raw: RawStats, persona: Persona, since: datetime | None = None, prices: Prices | None = None
) -> Stats:
    prices = prices or Prices()
    reached: list[tuple[str, int, float | None]] = []
    previous: int | None = None
    for spec in persona.stages:
        count = raw.reached.get(spec.name, 0)
        reached.append((spec.name, count, count / previous if previous else None))
        previous = count
    days = []
    for when, replies, tokens_in, tokens_out, cache_read, cache_write in raw.per_day:
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
    links = [
        {"stage": stage, "sent": sent, "clicked": hits, "rate": round(hits / sent, 4)}
        for stage, sent, hits in raw.links
    ]
    prompt = sum(d["input_tokens"] + d["cache_read_tokens"] + d["cache_write_tokens"] for d in days)
    cached = sum(d["cache_read_tokens"] for d in days)
    intents = [
        {
            "intent": intent,
            "contacts": count,
            "clicked": clicked,
            "converted": converted,
            "conversion": round(converted / count, 4) if count else 0.0,
        }
        for intent, count, clicked, converted in raw.intents
    ]
    return Stats(
        contacts=raw.contacts,
        by_stage=raw.by_stage,
        reached=reached,
        inbound=raw.directions.get("in", 0),
        outbound=raw.directions.get("out", 0),
        exits=raw.exits,
        stops=raw.stops,
        blocked={reason: raw.skipped.get(reason, 0) for reason in BLOCKED_REASONS},
        errors={reason: raw.skipped.get(reason, 0) for reason in ERROR_REASONS},
        per_day=days,
        links=links,
        deliveries=raw.deliveries,
        since=since,
        cache_read_share=round(cached / prompt, 4) if prompt else 0.0,
        intents=intents,
        nudges_sent=raw.nudges_sent,
        nudges_answered=raw.nudges_answered,
    )
