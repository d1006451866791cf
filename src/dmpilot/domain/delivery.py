"""Deliveries: one outbound text on its way through a channel, and what a send attempt said.

A delivery moves pending → sending → sent | failed | unknown | cancelled. An attempt whose
outcome is ambiguous (a timeout after the request left, a worker that died mid-send) is
`unknown` and never retried: a missing message is better than a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# Meta's standard messaging window: nothing may be sent later than this after the
# contact's last message (message tags are for human agents, never for dmpilot).
MESSAGING_WINDOW = timedelta(hours=24)


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its not_before time and a worker
    SENDING = "sending"  # claimed by a worker under an expiring lease
    SENT = "sent"  # the channel confirmed it (or it went out in the webhook response)
    FAILED = "failed"  # the channel refused it for good, or retries ran out
    UNKNOWN = "unknown"  # the outcome cannot be known; never retried
    CANCELLED = "cancelled"  # fenced off before sending (stop, pause, superseded, window)

    @property
    def final(self) -> bool:
        return self not in (DeliveryState.PENDING, DeliveryState.SENDING)


class DeliveryVia(StrEnum):
    RESPONSE = "response"  # in the webhook's HTTP response (ManyChat inline mode)
    API = "api"  # pushed by the worker through the channel's send API


class CancelReason(StrEnum):
    STOPPED = "stopped"  # the contact was stopped (opt-out, minor, funnel end) after queueing
    PAUSED = "paused"  # the kill switch is on
    SUPERSEDED = "superseded"  # a newer turn answers everything this reply answered
    WINDOW_CLOSED = "window_closed"  # the contact's last message is older than 24 h
    HANDOFF = "handoff"  # a person took the contact over: the bot's queued replies are withdrawn
    CONTACT_WROTE = "contact_wrote"  # a nudge: the contact wrote after it was queued


class DeliveryKind(StrEnum):
    """What the delivered text is; the goodbye kinds may reach a stopped contact."""

    REPLY = "reply"
    DISCLOSURE = "disclosure"
    BOUNDARY = "boundary"
    EXIT = "exit"
    GOODBYE = "goodbye"
    HUMAN = "human"  # written by a person (console, CLI, admin API), not by the bot
    NUDGE = "nudge"  # the follow-up to a contact who went quiet (domain.follow_ups)

    @property
    def ends_conversation(self) -> bool:
        return self in (DeliveryKind.EXIT, DeliveryKind.GOODBYE)


@dataclass(frozen=True, slots=True)
class OutboundDelivery:
    """A claimed delivery, as a Sender sees it."""

    id: int
    channel: str
    contact_id: int
    recipient: str  # the contact's id on the channel (ManyChat subscriber id, IGSID)
    text: str
    kind: DeliveryKind
    attempts: int  # including this one


class SendStatus(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # nothing was delivered and trying again may work (429, 5xx, refused)
    FAILED = "failed"  # nothing was delivered and trying again will not help
    UNKNOWN = "unknown"  # the request may or may not have been delivered


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    provider_message_id: str | None = None
    error: str | None = None
    retry_after_seconds: float | None = None  # the channel's own Retry-After, when it said
    # The account itself cannot send (an expired or revoked token): every later send would
    # fail the same way, so the worker pauses the account instead of burning the queue.
    pause_account: bool = False

    @classmethod
    def sent(cls, provider_message_id: str | None = None) -> SendResult:
        return cls(SendStatus.SENT, provider_message_id=provider_message_id)

    @classmethod
    def retry(cls, error: str, after_seconds: float | None = None) -> SendResult:
        return cls(SendStatus.RETRY, error=error, retry_after_seconds=after_seconds)

    @classmethod
    def failed(cls, error: str, *, pause_account: bool = False) -> SendResult:
        return cls(SendStatus.FAILED, error=error, pause_account=pause_account)

    @classmethod
    def unknown(cls, error: str) -> SendResult:
        return cls(SendStatus.UNKNOWN, error=error)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 2.0
    max_seconds: float = 300.0

    def delay(self, attempts: int, retry_after: float | None, jitter: float) -> float:
        """Seconds to wait before the next attempt; `jitter` in [0, 1) spreads workers."""
        backoff = min(self.max_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        backoff *= 0.5 + jitter / 2
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.max_seconds))
        return backoff


@dataclass(frozen=True, slots=True)
class Claim:
    deliveries: list[OutboundDelivery]
    cancelled: int  # fenced off by this claim
    expired: int  # claims whose worker died mid-send, now `unknown`
    rate_limited: bool = False  # the account's send rate is used up for this second


@dataclass(frozen=True, slots=True)
class WorkDue:
    """What a worker would find if it claimed now (a cheap read before a claim)."""

    turns: bool
    deliveries: bool


def window_closes_at(last_inbound_at: datetime) -> datetime:
    return last_inbound_at + MESSAGING_WINDOW


class DeliveryMode(StrEnum):
    """How ManyChat replies leave (DMPILOT_DELIVERY)."""

    INLINE = "inline"  # in the webhook's HTTP response; ManyChat sends it
    PUSH = "push"  # the webhook only stores; the worker answers through the send API
    HYBRID = "hybrid"  # inline when ready within DMPILOT_INLINE_SECONDS, else pushed
