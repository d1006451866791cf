"""The engine's configuration and its one clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dmpilot.domain.guard import GuardConfig
from dmpilot.settings import Settings


def utcnow() -> datetime:
    """Naive UTC: the one time representation stored on SQLite and PostgreSQL alike."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    dedup_window: timedelta
    coalesce_seconds: float
    reply_budget_seconds: float
    lease: timedelta
    history_messages: int
    max_attempts: int = 3
    similarity_threshold: float = 80.0
    broadcast_contacts: int = 3
    broadcast_window: timedelta = timedelta(hours=1)
    daily_new_conversations: int = 150
    leak_threshold: float = 0.3
    guard: GuardConfig | None = None  # None: the anomaly guard is off
    public_url: str | None = None  # set: replies carry a tracked /l/<token> link

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        return cls(
            dedup_window=timedelta(seconds=settings.dedup_window_seconds),
            coalesce_seconds=settings.coalesce_seconds,
            reply_budget_seconds=settings.reply_budget_seconds,
            lease=timedelta(seconds=max(settings.lease_seconds, settings.reply_budget_seconds)),
            history_messages=settings.history_messages,
            max_attempts=settings.max_attempts,
            similarity_threshold=settings.similarity_threshold,
            broadcast_contacts=settings.broadcast_contacts,
            broadcast_window=timedelta(seconds=settings.broadcast_window_seconds),
            daily_new_conversations=settings.daily_new_conversations,
            leak_threshold=settings.leak_threshold,
            guard=GuardConfig(
                window=timedelta(seconds=settings.guard_window_seconds),
                min_decisions=settings.guard_min_decisions,
                max_repetition_share=settings.guard_repetition_share,
                max_error_share=settings.guard_error_share,
            )
            if settings.guard_enabled
            else None,
            public_url=settings.public_url if settings.track_links else None,
        )
