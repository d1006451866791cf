"""Commands: what the web app, the CLI, the worker and the console ask the engine to do.

They are plain data; the handlers in engine/ carry them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dmpilot.domain.contacts import ContactRef
from dmpilot.domain.inbound import Inbound


@dataclass(frozen=True, slots=True)
class ReceiveMessage:
    """A contact wrote: store it exactly once, then answer it (now, or through the worker)."""

    inbound: Inbound


@dataclass(frozen=True, slots=True)
class TurnDue:
    """Run turns the worker owes: queued messages (push mode) and turns to retry."""

    limit: int = 8


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
class RecordClick:
    """Someone followed a tracked link (/l/<token>)."""

    token: str
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class RecoverInterrupted:
    """Explain the messages whose turn died with its process (kill -9 mid-turn, inline)."""

    lookback: timedelta = timedelta(hours=24)
