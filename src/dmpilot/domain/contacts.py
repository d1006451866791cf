"""How operators name a contact: its subscriber id, its @username, or dmpilot's `id:<n>`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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

        Raises ValueError with a fix for an empty or malformed reference.
        """
        ref = text.strip()
        if not ref:
            raise ValueError("give a contact: a subscriber id, an @username or id:<number>")
        if ref.startswith("@"):
            if len(ref) == 1:
                raise ValueError("'@' needs a username after it, e.g. @sam")
            return cls(RefKind.USERNAME, ref[1:])
        if ref.lower().startswith("id:"):
            number = ref[3:].strip()
            if not number.isdigit():
                raise ValueError(f"{ref!r}: id: takes dmpilot's numeric contact id, e.g. id:42")
            return cls(RefKind.INTERNAL, str(int(number)))
        return cls(RefKind.EXTERNAL, ref)

    def __str__(self) -> str:
        return {
            RefKind.USERNAME: f"@{self.value}",
            RefKind.INTERNAL: f"id:{self.value}",
            RefKind.EXTERNAL: self.value,
        }[self.kind]


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


class ConvertOutcome(StrEnum):
    CONVERTED = "converted"
    ALREADY = "already"  # it was marked converted before
    STOPPED = "stopped"  # recorded, but the contact is stopped: nothing will be sent
