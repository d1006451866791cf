"""A contact's data: what forgetting and retention keep, what they drop, and the tombstone
that keeps a forgotten contact stopped. Pure rules; store/privacy/ applies them.

- Forgetting keeps every row that a count needs (stats, the audit) and blanks every text
  in it: messages, deliveries, event details, the contact's identifiers. The contact row
  stays as an anonymous stopped shell (`forgotten:<random>`), and a tombstone — an
  HMAC-SHA256 of (channel, channel id) under a secret salt, nothing else — stops a contact
  created later with the same channel id from its first message.
- Retention blanks message texts older than N days, the same way.

A blanked outbound text that carried the persona's link keeps the link itself (not the
contact's words): the per-cycle link budget and the audit's link check still count it.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import sha256
from typing import Any

from dmpilot.domain.contacts import ActionOutcome, ContactInfo

# The channel id a forgotten contact's shell gets: random, so it can never name anyone.
FORGOTTEN_PREFIX = "forgotten:"
# Meta retries a webhook for up to 36 hours: dedup keys (deleted with the texts they hash)
# must outlive that, so retention never goes below two days.
MIN_RETENTION_DAYS = 2
MAX_RETENTION_DAYS = 3650
EXPORT_FORMAT = "dmpilot.contact-export"
EXPORT_VERSION = 1

# events.detail keys that never hold what a contact wrote, who it is, or a platform's id:
# vocabulary, operator names, times and our own row ids. Everything else is dropped when a
# detail is redacted, except plain numbers and booleans (tokens, attempts, ids).
SAFE_DETAIL_KEYS = frozenset(
    {
        "at",
        "boundary",
        "by",
        "confirmed_by",
        "draft_violations",
        "effect",
        "fallback",
        "kind",
        "model",
        "reason",
        "retry_at",
        "until",
        "violations",
        "worker",
    }
)
REDACTED_KEY = "redacted"
# Identifiers shorter than this are only matched where a detail names them exactly
# (`external_id`), never inside free text, where they would match unrelated numbers.
MIN_MENTION_LENGTH = 4


class PrivacyRefusal(StrEnum):
    SENDING = "sending"
    TURN = "turn"


REFUSALS = {
    PrivacyRefusal.SENDING: (
        "a message to this contact is being sent right now; try again in a minute, once "
        "its outcome is recorded"
    ),
    PrivacyRefusal.TURN: (
        "a reply to this contact is being written right now; try again in a minute"
    ),
}


def tombstone(salt: str, channel: str, external_id: str) -> str:
    """The tombstone of a channel id: HMAC-SHA256 under the installation's salt. Without the
    salt it cannot be checked against a guessed id."""
    message = f"{channel}\x00{external_id}".encode("utf-8", "surrogatepass")
    return hmac.new(salt.encode(), message, sha256).hexdigest()


def redact_detail(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An event's detail with only what names no one: the safe keys, numbers, booleans.
    Marked `redacted` when something was dropped; unchanged when nothing was."""
    if not detail:
        return None if detail is None else dict(detail)
    kept = {
        key: value
        for key, value in detail.items()
        if key in SAFE_DETAIL_KEYS
        or key == REDACTED_KEY
        or value is None
        or isinstance(value, bool | int | float)
    }
    if len(kept) != len(detail):
        kept[REDACTED_KEY] = True
    return kept


def mention_pattern(external_id: str, username: str | None) -> re.Pattern[str] | None:
    """The contact's channel id or @username as a whole word, for details written before
    the contact had a row (a webhook item from an unknown sender). None: too short to
    tell apart from other text."""
    words = [re.escape(external_id)] if len(external_id) >= MIN_MENTION_LENGTH else []
    if username and len(username) + 1 >= MIN_MENTION_LENGTH:
        words.append("@" + re.escape(username))
    if not words:
        return None
    return re.compile(r"(?<![\w@.])(?:" + "|".join(words) + r")(?![\w])")


def mentions(detail: Any, external_id: str, pattern: re.Pattern[str] | None) -> bool:
    """Whether an event's detail names the contact (exactly, or in any text inside it)."""
    if isinstance(detail, Mapping) and detail.get("external_id") == external_id:
        return True
    if pattern is None:
        return False
    return any(pattern.search(text) for text in _strings(detail))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for key, item in value.items() for s in (*_strings(key), *_strings(item))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


@dataclass(frozen=True, slots=True)
class Redaction:
    """What a blanked message text becomes: nothing, or — for our messages that carried
    the persona's link — the link alone, so link counts survive the words."""

    link: str
    carries_link: Callable[[str], bool]

    def text(self, direction: str, text: str) -> str:
        if direction == "out" and text and self.carries_link(text):
            return self.link
        return ""


@dataclass(frozen=True, slots=True)
class ForgetResult:
    contact: ContactInfo | None  # None: no contact matches the reference
    outcome: ActionOutcome | None = None
    detail: str | None = None  # why it was refused
    # What was scrubbed, per table (rows changed or deleted).
    scrubbed: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RetentionBatch:
    """One retention transaction: how many message and event rows it blanked, and whether
    it stopped at its limit (more may be due)."""

    messages: int = 0
    events: int = 0
    full: bool = False

    @property
    def total(self) -> int:
        return self.messages + self.events
