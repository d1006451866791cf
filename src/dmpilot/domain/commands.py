"""Commands: what the web app, the CLI, the worker and the console ask the engine to do.

They are plain data; the handlers in engine/ carry them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dmpilot.domain.channel_events import ChannelEvent
from dmpilot.domain.contacts import ContactRef, HandoffReason
from dmpilot.domain.inbound import Inbound


@dataclass(frozen=True, slots=True)
class ReceiveMessage:
    """A contact wrote: store it exactly once, then answer it (now, or through the worker)."""

    inbound: Inbound


@dataclass(frozen=True, slots=True)
class RecordChannelEvent:
    """A channel reported something besides a message (an echo, a reaction, a referral…):
    store it; an echo a person wrote hands the contact to them."""

    event: ChannelEvent


@dataclass(frozen=True, slots=True)
class TurnDue:
    """Run turns the worker owes: queued messages (push mode) and turns to retry."""

    limit: int = 8


@dataclass(frozen=True, slots=True)
class FollowUpDue:
    """Run one due follow-up: nudge a contact who went quiet after our reply, or record
    why not (domain/follow_ups.py)."""


@dataclass(frozen=True, slots=True)
class DeliveryDue:
    """Send what the outbox holds that is due, through each channel's Sender."""

    limit: int = 16


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class Resume:
    by: str


@dataclass(frozen=True, slots=True)
class MarkConverted:
    contact: ContactRef
    by: str


@dataclass(frozen=True, slots=True)
class TakeOver:
    """A person takes the contact over: the bot is silent for it until handed back, or
    until DMPILOT_HANDOFF_HOURS pass."""

    contact: ContactRef
    by: str
    reason: HandoffReason = HandoffReason.OPERATOR


@dataclass(frozen=True, slots=True)
class HandBack:
    contact: ContactRef
    by: str


@dataclass(frozen=True, slots=True)
class SendAsHuman:
    """A person's message to the contact, sent through the outbox like a reply: exempt from
    the reply rules, fenced by the stop and the 24-hour window. Takes the contact over if
    no one had. `key` makes a resubmitted form queue it once."""

    contact: ContactRef
    by: str
    text: str
    key: str


@dataclass(frozen=True, slots=True)
class StopContact:
    contact: ContactRef
    by: str


@dataclass(frozen=True, slots=True)
class ResetContact:
    """Start a funnel-stopped contact's funnel over (never a minor's or an opt-out's)."""

    contact: ContactRef
    by: str


@dataclass(frozen=True, slots=True)
class ForgetContact:
    """Erase a contact's data (domain.privacy): its texts and identifiers go, the counts
    stay, and a tombstone keeps anyone with its channel id stopped."""

    contact: ContactRef
    by: str


@dataclass(frozen=True, slots=True)
class RecordClick:
    """Someone followed a tracked link (/l/<token>)."""

    token: str
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class RecoverInterrupted:
    """Explain the messages whose turn died with its process (kill -9 mid-turn, inline)."""

    lookback: timedelta = timedelta(hours=24)
