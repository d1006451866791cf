"""What a turn decided, and the vocabulary of reasons recorded with every decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Reason(StrEnum):
    """Why nothing (or an exit) was sent. Stored in events.reason and returned to the channel."""

    DUPLICATE = "duplicate"  # the same message was already received within the dedup window
    COALESCED = "coalesced"  # a later message of the same contact will be answered instead
    PAUSED = "paused"  # the kill switch is on
    STOPPED = "stopped"  # the contact was stopped for good
    EMPTY = "empty"  # nothing answerable left after normalisation
    ERROR = "error"  # something failed: silence, never a canned text
    TIMEOUT = "timeout"  # no reply within the reply budget
    BUSY = "busy"  # another turn of this contact held the lease until the budget ran out
    REPETITION = "repetition"  # the only replies available repeat earlier ones
    LEASE_LOST = "lease_lost"  # the turn outlived its lease; another one may be answering
    CAP = "cap"  # the funnel is complete: the exit was sent and the contact stopped
    CONVERTED = "converted"  # the contact converted: the goodbye was sent and it stopped
    MINOR = "minor"  # the contact said they are under 18: stopped at once, nothing sent
    OPT_OUT = "opt_out"  # the contact asked to stop: one short goodbye at most, then nothing
    BUDGET = "budget"  # today's budget of new conversations is used; the message is stored
    INVALID = "invalid"  # every attempt broke a reply rule (length, link, language, …)
    BROADCAST = "broadcast"  # the reply was already sent to several other contacts lately
    INJECTION = "injection"  # flag only: the message tried to override the instructions


class Action(StrEnum):
    SEND = "send"
    SKIP = "skip"
    EXIT = "exit"  # send the goodbye; the contact is stopped
    STOP = "stop"  # the contact is stopped and nothing is sent (a minor, a silent opt-out)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    stage: str
    text: str = ""
    reason: Reason | None = None
    delay_seconds: int = 0

    @property
    def should_send(self) -> bool:
        return self.action in (Action.SEND, Action.EXIT) and bool(self.text)

    @property
    def should_stop(self) -> bool:
        return self.action in (Action.EXIT, Action.STOP)

    @classmethod
    def skip(cls, reason: Reason, stage: str) -> Decision:
        return cls(Action.SKIP, stage, reason=reason)


@dataclass(frozen=True, slots=True)
class MessageView:
    """A stored message as the policy and the brains see it."""

    id: int
    direction: str  # "in" | "out"
    kind: str
    text: str
    created_at: datetime
    language: str | None = None  # detected once, when the message was stored


@dataclass(frozen=True, slots=True)
class ContactState:
    """Everything one turn needs to know about a contact, loaded under the contact's lease."""

    contact_id: int
    name: str | None
    language: str | None
    stopped_at: datetime | None
    stop_reason: str | None
    converted_at: datetime | None
    cycle_replies: tuple[str, ...]  # replies (not exits) sent since the funnel (re)started
    history: tuple[MessageView, ...]  # recent messages, oldest first
    pending: tuple[MessageView, ...]  # inbound not yet answered, oldest first
    recent_replies: tuple[str, ...]  # newest first
    new_conversations_today: int = 0  # read only for a contact never answered yet

    @property
    def replies_in_cycle(self) -> int:
        return len(self.cycle_replies)

    def links_in_cycle(self, url: str) -> int:
        return sum(1 for reply in self.cycle_replies if url in reply)

    @property
    def latest_pending_id(self) -> int | None:
        return self.pending[-1].id if self.pending else None
