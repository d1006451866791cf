"""How operators name a contact: its subscriber id, its @username, or dmpilot's `id:<n>`."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dmpilot.domain.decision import Reason

# Contact ids are 64-bit integers in SQLite and PostgreSQL. Checking the length before
# int() also keeps a 5000-digit id away from Python's integer-conversion limit.
MAX_INTERNAL_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(MAX_INTERNAL_ID))
# external_id is String(128) in the schema; nothing longer can name a contact.
MAX_EXTERNAL_LENGTH = 128


class RefKind(StrEnum):
    EXTERNAL = "external"  # the id on its channel (ManyChat subscriber id, Instagram IGSID)
    USERNAME = "username"  # @handle
    INTERNAL = "internal"  # id:<n>, dmpilot's own row id


@dataclass(frozen=True, slots=True)
class ContactRef:
    kind: RefKind
    value: str

    @classmethod
    def parse(cls, text: str) -> ContactRef:
        """`@sam` → username, `id:42` → internal id, anything else → the channel's id.

        Raises ValueError with a fix for an empty or malformed reference, one with control
        characters, or an id no database row can have.
        """
        ref = text.strip()
        if not ref:
            raise ValueError("give a contact: a subscriber id, an @username or id:<number>")
        _refuse_unprintable(ref)
        if ref.startswith("@"):
            if len(ref) == 1:
                raise ValueError("'@' needs a username after it, e.g. @sam")
            return cls(RefKind.USERNAME, ref[1:])
        if ref.lower().startswith("id:"):
            return cls(RefKind.INTERNAL, str(_internal_id(ref)))
        if len(ref) > MAX_EXTERNAL_LENGTH:
            raise ValueError(
                f"a subscriber id is at most {MAX_EXTERNAL_LENGTH} characters, this one has "
                f"{len(ref)}; copy the id from ManyChat, or give @username or id:<number>"
            )
        return cls(RefKind.EXTERNAL, ref)

    def __str__(self) -> str:
        return {
            RefKind.USERNAME: f"@{self.value}",
            RefKind.INTERNAL: f"id:{self.value}",
            RefKind.EXTERNAL: self.value,
        }[self.kind]


def _internal_id(ref: str) -> int:
    number = ref[3:].strip()
    # isascii: str.isdigit() also takes "²" and other scripts' digits, which int() refuses
    # or quietly reads as another number.
    if not (number.isascii() and number.isdigit()):
        raise ValueError(f"{_shown(ref)}: id: takes dmpilot's numeric contact id, e.g. id:42")
    digits = number.lstrip("0") or "0"
    if len(digits) > _MAX_ID_DIGITS or int(digits) > MAX_INTERNAL_ID:
        shown = digits if len(digits) <= 24 else f"{digits[:20]}… ({len(digits)} digits)"
        raise ValueError(
            f"id:{shown} is out of range: contact ids go up to {MAX_INTERNAL_ID}; "
            "check the number, or name the contact by its subscriber id or @username"
        )
    return int(digits)


def _refuse_unprintable(ref: str) -> None:
    """Control characters (newlines, NUL, ESC) and lone surrogates name no contact, and would
    corrupt the log lines and terminal output the reference is echoed into."""
    for ch in ref:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(
                f"{_shown(ref)}: a contact reference cannot hold control characters or "
                f"broken text (found U+{ord(ch):04X}); give a subscriber id, @username or "
                "id:<number>"
            )


def _shown(text: str, limit: int = 40) -> str:
    """The reference as quoted in an error: escaped, and cut short when it is long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


class ContactStatus(StrEnum):
    """Where a contact stands, as the console filters and shows it."""

    ACTIVE = "active"  # the bot answers
    HANDOFF = "handoff"  # a person has taken over: the bot is silent until it is handed back
    STOPPED = "stopped"  # stopped for good (funnel complete, opt-out, minor, by an operator)
    CUSTOMER = "customer"  # marked converted


class HandoffReason(StrEnum):
    OPERATOR = "operator"  # taken over from the console, the CLI or the admin API
    REQUESTED = "requested"  # the contact asked for a real person
    HUMAN_REPLIED = "human_replied"  # someone answered from the Instagram app


class HandbackReason(StrEnum):
    OPERATOR = "operator"
    EXPIRED = "expired"  # DMPILOT_HANDOFF_HOURS passed
    STOPPED = "stopped"  # the contact was stopped while a person had it


# Stop reasons an operator may undo with a reset: the funnel ran its course, or an operator
# stopped it. Never a minor or an opt-out: for those the action does not exist.
RESETTABLE_STOPS = frozenset({Reason.CAP.value, Reason.OPERATOR.value})


@dataclass(frozen=True, slots=True)
class ContactInfo:
    id: int
    channel: str
    external_id: str
    username: str | None
    name: str | None
    stage: str | None
    language: str | None
    stopped_at: datetime | None
    stop_reason: str | None
    converted_at: datetime | None
    handoff_until: datetime | None = None
    handoff_by: str | None = None
    handoff_reason: str | None = None
    source: str | None = None  # where the contact came from (an ad, an ig.me link)

    def in_handoff(self, now: datetime) -> bool:
        return self.handoff_until is not None and self.handoff_until > now

    def status(self, now: datetime) -> ContactStatus:
        if self.converted_at is not None:
            return ContactStatus.CUSTOMER
        if self.stopped_at is not None:
            return ContactStatus.STOPPED
        if self.in_handoff(now):
            return ContactStatus.HANDOFF
        return ContactStatus.ACTIVE

    @property
    def resettable(self) -> bool:
        """A funnel-stopped contact may start over; a minor or an opt-out never."""
        return (
            self.stopped_at is not None
            and self.converted_at is None
            and self.stop_reason in RESETTABLE_STOPS
        )


class ConvertOutcome(StrEnum):
    CONVERTED = "converted"
    ALREADY = "already"  # it was marked converted before
    STOPPED = "stopped"  # recorded, but the contact is stopped: nothing will be sent


class ActionOutcome(StrEnum):
    """What an operator's action on one contact did."""

    DONE = "done"
    ALREADY = "already"  # it was already so: nothing changed
    REFUSED = "refused"  # it may not be done to this contact; `detail` says why
    DUPLICATE = "duplicate"  # this very message (same key) was already queued


@dataclass(frozen=True, slots=True)
class ContactActionResult:
    contact: ContactInfo | None  # None: no contact matches the reference
    outcome: ActionOutcome | None = None
    detail: str | None = None  # why it was refused, in words an operator can act on
    delivery_id: int | None = None  # a human reply's outbox row
