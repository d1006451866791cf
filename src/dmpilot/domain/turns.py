"""A turn's data: what storing an inbound message found, and what a turn asks to commit.

A turn is one reply decision for a contact. Its identity is (contact, trigger): the
newest inbound message it answers (`in:<id>`), or — for turns no message triggers — a
name of their own (`goodbye`, `nudge:<reply id>`). A unique constraint on that pair keeps
every kind of turn exactly-once across processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dmpilot.domain.decision import Reason
from dmpilot.domain.delivery import DeliveryKind
from dmpilot.domain.follow_ups import FollowUpPlan

# The opt-out goodbye is owed at most once per contact, ever.
GOODBYE_TRIGGER = "goodbye"


def inbound_trigger(message_id: int) -> str:
    return f"in:{message_id}"


class CommitKind(StrEnum):
    REPLY = "reply"  # a funnel reply
    DISCLOSURE = "disclosure"  # the persona's AI disclosure; does not advance the funnel
    BOUNDARY = "boundary"  # the persona's decline (explicit, meeting); does not advance it
    EXIT = "exit"  # the goodbye that ends the funnel; stops the contact in the same commit
    GOODBYE = "goodbye"  # the one short answer to an opt-out; the contact is already stopped
    NUDGE = "nudge"  # the follow-up to a quiet contact; answers nothing, advances nothing

    @property
    def delivery_kind(self) -> DeliveryKind:
        return DeliveryKind(self.value)


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of storing one inbound delivery."""

    contact_id: int
    subscriber: str  # the contact's id on its channel, the one operators know
    message_id: int | None  # None for a duplicate delivery
    duplicate_of: int | None
    paused: bool
    stopped: bool
    stage: str | None  # the contact's stage before this message; None before any reply
    safety_stop: Reason | None = None  # this message stopped the contact (minor, opt-out)
    goodbye_due: bool = False  # the contact opted out while active: its goodbye is owed
    # A repeat of a message no decision was ever recorded for (its turn crashed or the
    # database failed mid-way): this delivery takes the turn instead of being dropped.
    retake: bool = False
    # A person has the contact (handoff): the bot records and stays silent.
    handoff: bool = False

    @property
    def duplicate(self) -> bool:
        return self.message_id is None and not self.retake

    @property
    def subject_id(self) -> int | None:
        """The stored message this delivery is about."""
        return self.message_id if self.message_id is not None else self.duplicate_of


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """The message asks for a real person: hand the contact to one, until `until`."""

    until: datetime


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """How a committed text leaves: in the webhook response now, or queued for the worker."""

    channel: str
    recipient: str
    not_before: datetime
    in_response: bool  # inline mode: it is sent by the HTTP response, recorded as sent


@dataclass(slots=True)
class TurnCommit:
    """What a turn wants to send, ready to be committed by the turn that holds the lease."""

    contact_id: int
    owner: str
    trigger: str
    last_inbound_id: int  # every inbound up to this one is answered by this turn
    stage: str
    text: str  # exactly the text that is sent (tracked link already in place)
    language: str
    now: datetime
    delivery: DeliveryPlan
    kind: CommitKind = CommitKind.REPLY
    # For EXIT: the variants, and which one to send after the account's last one
    # (None: no exit sent yet in this language). Chosen by the domain, applied atomically.
    exit_texts: tuple[str, ...] = ()
    exit_choices: Mapping[int | None, int] = field(default_factory=dict)
    reactivate: bool = False
    stop_reason: Reason = Reason.CAP  # for EXIT: why the contact stops (cap, converted)
    new_conversation_limit: int | None = None  # first reply: claim one from today's budget
    usage: dict[str, Any] = field(default_factory=dict)  # model, tokens, brain_ms, attempts
    link_token: str | None = None  # the tracked-link token carried by `text`
    # (intent, effect) pairs: what the contact asked for and what this turn did about it.
    intents: tuple[tuple[str, str], ...] = ()
    latency_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    follow_up: FollowUpPlan | None = None  # REPLY: the follow-up this reply schedules
    follows: int | None = None  # NUDGE: the reply it follows (its follow-up is settled)

    @property
    def is_exit(self) -> bool:
        return self.kind is CommitKind.EXIT


@dataclass(frozen=True, slots=True)
class Committed:
    turn_id: int
    message_id: int | None  # None for an exit with nothing left to say (a silent stop)
    delivery_id: int | None
    text: str
    exit_variant: int | None


class TurnRejected(Exception):
    """The commit was refused; `reason` says why (paused, stopped, lease lost, duplicate)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class AfterKind(StrEnum):
    KEEP = "keep"  # leave any owed turn as it is (a newer message will be answered)
    CLEAR = "clear"  # the decision is final: nothing more is owed for these messages
    RETRY = "retry"  # the turn failed (model error, timeout, busy): owe it again later


@dataclass(frozen=True, slots=True)
class AfterSkip:
    """What a skip means for the turn the worker owes the contact."""

    kind: AfterKind
    retry_at: datetime | None = None
    max_attempts: int = 0

    @classmethod
    def keep(cls) -> AfterSkip:
        return cls(AfterKind.KEEP)

    @classmethod
    def clear(cls) -> AfterSkip:
        return cls(AfterKind.CLEAR)

    @classmethod
    def retry(cls, at: datetime, max_attempts: int) -> AfterSkip:
        return cls(AfterKind.RETRY, at, max_attempts)
