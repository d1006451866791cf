"""Human handoff: what a person may send, and why an operator's action is refused.

A contact in handoff is answered by a person; the bot records its messages and stays
silent (`Reason.HANDOFF`) until the contact is handed back or DMPILOT_HANDOFF_HOURS pass.
A person's message is exempt from the reply rules (it is theirs) but not from the fences
that protect the account: the stop, the kill switch and Instagram's 24-hour window.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from dmpilot.domain.contacts import ContactInfo
from dmpilot.domain.decision import Reason
from dmpilot.domain.delivery import MESSAGING_WINDOW
from dmpilot.domain.inbound import scrub
from dmpilot.domain.validator import INSTAGRAM_MAX_BYTES

# A person's message is a turn of its own: one per idempotency key, ever.
HUMAN_TRIGGER_PREFIX = "human:"
MAX_KEY_LENGTH = 48


def human_trigger(key: str) -> str:
    return f"{HUMAN_TRIGGER_PREFIX}{key}"


class Refusal(StrEnum):
    """Why a person's message or an operator's action cannot go ahead."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    BAD_KEY = "bad_key"
    STOPPED = "stopped"
    PAUSED = "paused"
    WINDOW_CLOSED = "window_closed"
    INLINE = "inline"
    MINOR = "minor"
    OPT_OUT = "opt_out"
    NOT_STOPPED = "not_stopped"
    CUSTOMER = "customer"
    FORGOTTEN = "forgotten"


REFUSALS: dict[Refusal, str] = {
    Refusal.EMPTY: "the message is empty: write something to send",
    Refusal.TOO_LONG: f"Instagram takes at most {INSTAGRAM_MAX_BYTES} bytes in one message: "
    "shorten it or send it in two",
    Refusal.BAD_KEY: f"the message key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters "
    "(the console makes one for every form)",
    Refusal.STOPPED: "the contact is stopped: nothing is ever sent to it again",
    Refusal.PAUSED: "the account is paused (kill switch): nothing is sent, not even a person's "
    "message — resume first",
    Refusal.WINDOW_CLOSED: "the contact's last message is more than 24 hours old: Instagram "
    "allows no message until they write again",
    Refusal.INLINE: "inline delivery can only answer inside ManyChat's request: set "
    "DMPILOT_MANYCHAT_API_KEY (push or hybrid delivery) to send a person's message",
    Refusal.MINOR: "the contact said they are under 18: it is never reset",
    Refusal.OPT_OUT: "the contact asked to stop: it is never reset",
    Refusal.NOT_STOPPED: "the contact is not stopped: there is nothing to reset",
    Refusal.FORGOTTEN: "the contact's data was erased (dmpilot forget): it is never reset",
    Refusal.CUSTOMER: "the contact converted: it is a customer, not a funnel to start over",
}


def clean_human_text(text: str) -> str:
    """The text as it will be sent: broken characters and NUL removed, ends trimmed."""
    cleaned: str = scrub(text)
    return cleaned.strip()


def text_refusal(text: str) -> Refusal | None:
    """What is wrong with a person's (already cleaned) message, if anything."""
    if not text:
        return Refusal.EMPTY
    if len(text.encode("utf-8")) > INSTAGRAM_MAX_BYTES:
        return Refusal.TOO_LONG
    return None


def key_refusal(key: str) -> Refusal | None:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all("\x21" <= ch <= "\x7e" for ch in key):
        return Refusal.BAD_KEY
    return None


def send_refusal(
    contact: ContactInfo, last_inbound_at: datetime, paused: bool, now: datetime
) -> Refusal | None:
    """The fences a person's message must pass, checked in the transaction that queues it
    (the delivery claim checks them again before sending)."""
    if contact.stopped_at is not None:
        return Refusal.STOPPED
    if paused:
        return Refusal.PAUSED
    if last_inbound_at < now - MESSAGING_WINDOW:
        return Refusal.WINDOW_CLOSED
    return None


def reset_refusal(contact: ContactInfo) -> Refusal | None:
    if contact.stop_reason == Reason.MINOR:
        return Refusal.MINOR
    if contact.stop_reason == Reason.OPT_OUT:
        return Refusal.OPT_OUT
    if contact.stop_reason == Reason.FORGOTTEN:
        return Refusal.FORGOTTEN
    if contact.converted_at is not None:
        return Refusal.CUSTOMER
    if not contact.resettable:
        return Refusal.NOT_STOPPED
    return None
