"""What a channel reports besides a contact's message: the account's own sends (echoes),
reactions, read receipts, deletions, referrals, and items dmpilot refuses.

None of these is answered. Each is stored as an event; an echo that dmpilot did not send
means a person answered from the Instagram app, and the bot falls silent for the contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

MAX_DETAIL_CHARS = 2000  # what is kept of an item dmpilot could not read, for the operator


class ChannelEventKind(StrEnum):
    ECHO = "echo"  # a message the account sent: by dmpilot, or by a person in the app
    REACTION = "reaction"  # the contact reacted to a message (or took the reaction back)
    SEEN = "seen"  # the contact read the conversation
    DELETED = "deleted"  # the contact unsent a message
    UNSUPPORTED = "unsupported"  # a message type the API does not deliver
    REFERRAL = "referral"  # the contact came from an ad or an ig.me link
    REFUSED = "refused"  # not for this account, or not readable: stored, never answered


class RefusedItem(StrEnum):
    """Why a webhook item was stored but not handled (events.reason of `refused`)."""

    WRONG_ACCOUNT = "wrong_account"  # addressed to another account than DMPILOT_META_ACCOUNT_ID
    UNKNOWN_SHAPE = "unknown_shape"  # valid JSON, but not an event dmpilot knows
    UNREADABLE = "unreadable"  # a known event missing what it needs (no sender, no mid)


class EchoOutcome(StrEnum):
    OURS = "ours"  # dmpilot's own send, matched to its delivery: nothing to do
    HUMAN = "human"  # a person answered from the app: stored, and the contact handed off
    REPEAT = "repeat"  # this echo was seen before (Meta delivers at least once)


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """One non-message item of a webhook, normalised. `contact_external_id` is the
    contact's id on the channel (the IGSID), None when the item names none."""

    kind: ChannelEventKind
    channel: str
    contact_external_id: str | None
    received_at: datetime
    message_id: str | None = None  # the platform's id of the message it is about (mid)
    text: str = ""  # an echo's text
    reason: RefusedItem | None = None  # a refusal's reason
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChannelEventResult:
    contact_id: int | None
    echo: EchoOutcome | None = None  # for echoes: whose message it was
    handed_off: bool = False  # an echo from a person took the contact over
