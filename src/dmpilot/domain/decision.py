"""What a turn decided, and the vocabulary of reasons recorded with every decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
    QUEUED = "queued"  # stored; the worker runs the turn and pushes the reply (push mode)
    DEFERRED = "deferred"  # the reply was not ready in time; it is pushed when it is (hybrid)
    INTERRUPTED = "interrupted"  # the process died mid-turn; found and recorded at a restart
    HANDOFF = "handoff"  # a person has taken this contact over: the bot stays silent
    OPERATOR = "operator"  # an operator stopped the contact by hand
    # The contact was forgotten (its data erased): stopped for good, and a new contact with
    # its channel id starts stopped (domain.privacy).
    FORGOTTEN = "forgotten"


class EventKind(StrEnum):
    """What an events row records. Every decision, and every delivery outcome, is one."""

    SENT = "sent"  # a reply was committed (and queued for delivery)
    SKIPPED = "skipped"  # nothing is sent for this message; `reason` says why
    EXIT = "exit"  # the goodbye was committed together with the stop
    STOPPED = "stopped"  # the contact was stopped for good
    FLAGGED = "flagged"  # noted for audit, nothing else changes (prompt injection)
    PAUSED = "paused"  # the kill switch went on
    RESUMED = "resumed"  # … and off
    CONVERTED = "converted"  # the contact was marked converted
    DELIVERED = "delivered"  # the channel confirmed a delivery
    DELIVERY_RETRY = "delivery_retry"  # an attempt failed and will be retried
    DELIVERY_FAILED = "delivery_failed"  # the channel refused it for good
    DELIVERY_UNKNOWN = "delivery_unknown"  # the outcome is unknown; never retried
    DELIVERY_CANCELLED = "delivery_cancelled"  # fenced off before sending
    INTENT = "intent"  # what a message asked for (reason) and what the turn did about it
    HANDOFF = "handoff"  # a person took the contact over (reason: domain.contacts.HandoffReason)
    HANDBACK = "handback"  # … and gave it back to the bot (reason: by hand, or expired)
    HUMAN_REPLY = "human_reply"  # a person's message was queued for the contact
    RESET = "reset"  # an operator started a funnel-stopped contact's funnel over
    FORGOTTEN = "forgotten"  # an operator erased the contact's data (detail: counts, no text)
    # A scheduled nudge was dropped (reason: domain.follow_ups.FollowUpCancel).
    FOLLOW_UP_CANCELLED = "follow_up_cancelled"
    # What a channel reported besides messages (domain.channel_events): stored, not answered.
    REACTION = "reaction"
    SEEN = "seen"
    DELETED = "deleted"
    UNSUPPORTED = "unsupported"
    REFERRAL = "referral"
    REFUSED = "refused"  # a webhook item for another account, or unreadable (reason says)
    # Alerts to the operator (reason: domain.alerts.AlertKind; detail: incident, target).
    ALERT_SENT = "alert_sent"
    ALERT_FAILED = "alert_failed"
    BRAIN_PROBE_FAILED = "brain_probe_failed"  # `dmpilot serve`'s start-up check (reason: status)


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
    delivery_id: int | None = None  # the outbox row of what was committed

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
    """Everything one turn needs to know about a contact, loaded under the contact's lease.

    Replies whose delivery was cancelled never reached the contact: they are left out of
    the history, the funnel count and the link budget, and what they answered is pending
    again.
    """

    contact_id: int
    external_id: str
    name: str | None
    language: str | None
    stopped_at: datetime | None
    stop_reason: str | None
    converted_at: datetime | None
    # (kind, text, stage) of everything sent in this funnel cycle, oldest first
    cycle_outbound: tuple[tuple[str, str, str | None], ...]
    history: tuple[MessageView, ...]  # recent messages, oldest first
    pending: tuple[MessageView, ...]  # inbound not yet answered, oldest first
    recent_replies: tuple[str, ...]  # newest first
    last_inbound_at: datetime | None = None
    stage: str | None = None  # the stage of the last reply (a contact moved ahead stays)
    known: dict[str, str] = field(default_factory=dict)  # facts it told us, by kind
    channel: str = "manychat"
    paused: bool = False  # the kill switch, read under the lease
    turn_attempts: int = 0  # failed attempts at the turn the worker owes (retries)
    goodbye_due: bool = False  # an opt-out stopped this active contact; its goodbye is owed
    new_conversations_today: int = 0  # read only for a contact never answered yet
    # A reply this turn replaced was due at this time; the new one keeps its slot.
    superseded_not_before: datetime | None = None
    handoff_until: datetime | None = None  # a person has the contact until then

    def in_handoff(self, now: datetime) -> bool:
        return self.handoff_until is not None and self.handoff_until > now

    @property
    def replies_in_cycle(self) -> int:
        return len(self.reply_stages)

    @property
    def reply_stages(self) -> list[str]:
        """The stage of each funnel reply of this cycle, oldest first."""
        return [stage or "" for kind, _, stage in self.cycle_outbound if kind == "reply"]

    def links_in_cycle(self, carries_link: Callable[[str], bool]) -> int:
        """Messages of this cycle that carried the persona's link, in any spelling."""
        return sum(1 for _, text, _ in self.cycle_outbound if carries_link(text))

    @property
    def latest_pending_id(self) -> int | None:
        return self.pending[-1].id if self.pending else None
