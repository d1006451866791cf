"""Ports: what the engine needs from the world, as Protocols. Adapters implement them
(store/ for storage, channels/ for senders, runtime.py for the clock and randomness);
tests pass fakes through bootstrap's overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from dmpilot.domain.channel_events import ChannelEvent, ChannelEventResult
from dmpilot.domain.contacts import (
    ContactActionResult,
    ContactInfo,
    ContactRef,
    ConvertOutcome,
    HandoffReason,
)
from dmpilot.domain.control import ControlState
from dmpilot.domain.decision import ContactState, EventKind, Reason
from dmpilot.domain.delivery import (
    Claim,
    DeliveryState,
    OutboundDelivery,
    RetryPolicy,
    SendResult,
    WorkDue,
)
from dmpilot.domain.follow_ups import DueFollowUp, FollowUpCancel, FollowUpState
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.memory import Fact
from dmpilot.domain.privacy import ForgetResult, Redaction, RetentionBatch
from dmpilot.domain.turns import AfterSkip, Committed, HandoffRequest, Recorded, TurnCommit


class StoreUnavailable(Exception):
    """The database could not do the work; the unit of work was rolled back.

    Raised instead of the driver's own errors, so nothing outside store/ knows SQLAlchemy.
    """


# -- storage -------------------------------------------------------------------------------


class InboxPort(Protocol):
    def record(
        self,
        inbound: Inbound,
        now: datetime,
        *,
        dedup_window: timedelta,
        language: str | None,
        safety_stop: Reason | None = None,
        schedule_at: datetime | None = None,
        settle: timedelta = ...,
        owe_goodbye: bool = True,
        facts: Sequence[Fact] = (),
        handoff: HandoffRequest | None = None,
    ) -> Recorded: ...

    def newest_inbound_id(self, contact_id: int) -> int | None: ...

    def mark_interrupted(
        self, now: datetime, *, before: datetime, since: datetime, limit: int = ...
    ) -> int: ...


class LeasesPort(Protocol):
    def claim_and_load(
        self,
        contact_id: int,
        owner: str,
        now: datetime,
        ttl: timedelta,
        history_limit: int,
        *,
        supersede: bool = True,
        paused: bool | None = None,
    ) -> ContactState | None: ...

    def claim_due_and_load(
        self, owner: str, now: datetime, ttl: timedelta, history_limit: int
    ) -> ContactState | None: ...

    def release(self, contact_id: int, owner: str) -> None: ...


class TurnsPort(Protocol):
    def commit(self, turn: TurnCommit) -> Committed: ...

    def settle(self, contact_id: int, now: datetime) -> None: ...

    def skip(
        self,
        now: datetime,
        reason: Reason,
        after: AfterSkip,
        *,
        contact_id: int,
        message_id: int | None,
        kind: EventKind = ...,
        latency_ms: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool: ...


class FollowUpsPort(Protocol):
    """Follow-up nudges (store/follow_ups.py); scheduled by TurnsPort.commit."""

    def claim(
        self, owner: str, now: datetime, ttl: timedelta, history_limit: int
    ) -> tuple[DueFollowUp, ContactState] | None: ...

    def settle(
        self,
        contact_id: int,
        reply_id: int,
        now: datetime,
        state: FollowUpState,
        reason: FollowUpCancel | Reason,
        detail: dict[str, Any] | None = None,
    ) -> bool: ...


class OutboxPort(Protocol):
    def claim(
        self,
        now: datetime,
        owner: str,
        ttl: timedelta,
        limit: int,
        min_gap: timedelta,
        per_second: int,
    ) -> Claim: ...

    def record(
        self,
        delivery_id: int,
        owner: str,
        result: SendResult,
        now: datetime,
        policy: RetryPolicy,
        jitter: float,
    ) -> DeliveryState | None: ...

    def release(self, delivery_ids: Sequence[int], owner: str, now: datetime) -> int: ...

    def take_for_response(self, delivery_id: int, now: datetime) -> bool: ...


class ControlPort(Protocol):
    def state(self) -> ControlState: ...

    def set_paused(
        self, paused: bool, reason: str | None, by: str, now: datetime
    ) -> ControlState: ...

    def pause_if_running(self, reason: str, by: str, now: datetime) -> bool: ...


class ContactsPort(Protocol):
    def find(self, ref: ContactRef) -> ContactInfo | None: ...

    def mark_converted(self, contact: ContactInfo, now: datetime, by: str) -> ConvertOutcome: ...


class HandoffsPort(Protocol):
    """An operator's actions on one contact (store/handoff.py)."""

    def take_over(
        self, ref: ContactRef, now: datetime, until: datetime, by: str, reason: HandoffReason
    ) -> ContactActionResult: ...

    def hand_back(self, ref: ContactRef, now: datetime, by: str) -> ContactActionResult: ...

    def send(
        self, ref: ContactRef, text: str, key: str, now: datetime, until: datetime, by: str
    ) -> ContactActionResult: ...

    def stop(self, ref: ContactRef, now: datetime, by: str) -> ContactActionResult: ...

    def reset(self, ref: ContactRef, now: datetime, by: str) -> ContactActionResult: ...


class ChannelEventsPort(Protocol):
    """What a channel reports besides messages (store/channel_events.py)."""

    def record(
        self, event: ChannelEvent, now: datetime, handoff_until: datetime
    ) -> ChannelEventResult: ...


class EventsPort(Protocol):
    def record(
        self,
        now: datetime,
        kind: EventKind,
        reason: Reason | str | None = None,
        *,
        contact_id: int | None = None,
        message_id: int | None = None,
        turn_id: int | None = None,
        latency_ms: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...


class LinksPort(Protocol):
    def record_click(self, token: str, now: datetime, user_agent: str | None) -> bool: ...


class PrivacyPort(Protocol):
    """A contact's data (store/privacy): forgetting one, one batch of retention."""

    def forget(
        self, ref: ContactRef, now: datetime, by: str, redaction: Redaction
    ) -> ForgetResult: ...

    def retain(
        self, before: datetime, now: datetime, redaction: Redaction, limit: int
    ) -> RetentionBatch: ...


class WritingUnit(Protocol):
    """One write transaction: committed when the block ends, rolled back on an error."""

    @property
    def inbox(self) -> InboxPort: ...
    @property
    def leases(self) -> LeasesPort: ...
    @property
    def turns(self) -> TurnsPort: ...
    @property
    def outbox(self) -> OutboxPort: ...
    @property
    def control(self) -> ControlPort: ...
    @property
    def contacts(self) -> ContactsPort: ...
    @property
    def events(self) -> EventsPort: ...
    @property
    def links(self) -> LinksPort: ...
    @property
    def handoffs(self) -> HandoffsPort: ...
    @property
    def channel_events(self) -> ChannelEventsPort: ...
    @property
    def follow_ups(self) -> FollowUpsPort: ...
    @property
    def privacy(self) -> PrivacyPort: ...


class ReadModels(Protocol):
    """One read transaction; it never blocks a writer."""

    def control(self) -> ControlState: ...
    def decision_mix(self, since: datetime) -> dict[tuple[str, str | None], int]: ...
    def newest_inbound_id(self, contact_id: int) -> int | None: ...
    def new_conversations(self, day: date) -> int: ...
    def recent_outbound(
        self, since: datetime, exclude_contact: int, limit: int = 500
    ) -> list[tuple[int, str]]: ...
    def find_contact(self, ref: ContactRef) -> ContactInfo | None: ...
    def work_due(self, now: datetime) -> WorkDue: ...
    def follow_up_due(self, now: datetime) -> bool: ...


class Storage(Protocol):
    def writing(self) -> AbstractContextManager[WritingUnit]: ...
    def reading(self) -> AbstractContextManager[ReadModels]: ...


# -- channels, time, chance ------------------------------------------------------------------


class Sender(Protocol):
    """Sends deliveries through one channel's API (ManyChat sendContent, Instagram Send API)."""

    channel: str

    async def send(self, delivery: OutboundDelivery) -> SendResult: ...

    async def aclose(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Naive UTC wall time, the one representation stored on every database."""
        ...

    def monotonic(self) -> float:
        """Seconds for deadlines and durations; never goes back."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RandomSource(Protocol):
    def random(self) -> float: ...
    def randint(self, low: int, high: int) -> int: ...
    def token(self) -> str:
        """An unguessable URL-safe token (tracked links)."""
        ...
