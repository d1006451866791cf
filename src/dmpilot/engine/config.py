"""The engine's configuration: the turn's timings and limits, delivery and retries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from dmpilot.domain.delivery import DeliveryMode, RetryPolicy
from dmpilot.domain.guard import GuardConfig
from dmpilot.settings import Settings


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
    daily_new_conversations: int = 50
    leak_threshold: float = 0.3
    guard: GuardConfig | None = None  # None: the anomaly guard is off
    public_url: str | None = None  # set: replies carry a tracked /l/<token> link
    delivery: DeliveryMode = DeliveryMode.INLINE
    # Channels whose webhook takes no reply (Meta's): their messages are always answered
    # by the worker through the channel's send API.
    push_channels: frozenset[str] = frozenset({"instagram"})
    inline_seconds: float = 6.0  # hybrid: how long the webhook waits for the reply
    # A turn the worker runs has no ManyChat window to fit in: it may take longer.
    worker_budget_seconds: float = 45.0
    turn_retry_attempts: int = 4  # failed turns (model error, timeout) owed again
    turn_retry_seconds: float = 30.0  # first retry delay; doubles each time
    send_retry: RetryPolicy = field(default_factory=RetryPolicy)
    send_lease: timedelta = timedelta(seconds=60)  # longer than a send can take
    min_send_gap: timedelta = timedelta(seconds=2)  # between two sends to one contact
    sends_per_second: int = 20  # account-wide; ManyChat's sendContent allows about 25
    handoff: timedelta = timedelta(hours=24)  # a person's hold on a contact ends after this
    handoff_on_request: bool = True  # "can I talk to a real person?" hands the contact over

    def delivery_for(self, channel: str) -> DeliveryMode:
        return DeliveryMode.PUSH if channel in self.push_channels else self.delivery

    @property
    def settle(self) -> timedelta:
        """How old an undecided message must be before a repeat of it takes its turn:
        past its own request's coalesce window, so a racing copy stays a duplicate."""
        return timedelta(seconds=self.coalesce_seconds + 1.0)

    @property
    def abandoned_after(self) -> timedelta:
        """When an undecided message has surely lost its turn: a retry can no longer take
        it (past the dedup window) and any turn on it would have ended (past its lease)."""
        return max(self.dedup_window, self.lease) + self.settle + self.lease

    @property
    def worker_lease(self) -> timedelta:
        return max(self.lease, timedelta(seconds=self.worker_budget_seconds + 5))

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
            delivery=settings.delivery_mode,
            inline_seconds=settings.inline_seconds,
            worker_budget_seconds=settings.worker_budget_seconds,
            turn_retry_attempts=settings.turn_retry_attempts,
            turn_retry_seconds=settings.turn_retry_seconds,
            send_retry=RetryPolicy(max_attempts=settings.send_attempts),
            send_lease=timedelta(seconds=settings.send_lease_seconds),
            min_send_gap=timedelta(seconds=settings.min_send_gap_seconds),
            sends_per_second=settings.sends_per_second,
            handoff=timedelta(hours=settings.handoff_hours),
            handoff_on_request=settings.handoff_on_request,
        )
