"""Alerts to the operator: what kinds of trouble there are, and one incident of them.

An incident is identified by its key (kind, and scope when there are many at once: one per
contact asking for a person, one per automatic pause). It is alerted once, and again only
after the cool-down while it lasts (a condition) or when it grew (events: `mark`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

OVERVIEW_PATH = "/console/overview"


class AlertKind(StrEnum):
    PAUSED = "paused"  # the anomaly guard, or a channel refusing the account, paused it
    SILENCE = "silence"  # no inbound for hours during the account's usual hours
    DELIVERIES = "deliveries"  # deliveries failed or unknown, above the threshold
    BRAIN_START = "brain_start"  # the brain failed its check when `dmpilot serve` started
    BRAIN_ERRORS = "brain_errors"  # turns failed (model errors, timeouts), above the threshold
    SPEND = "spend"  # today's model spend is above the budget
    HUMAN = "human"  # a contact asked for a real person
    MINOR = "minor"  # contacts were stopped as minors (counts only, never their words)
    TEST = "test"  # `dmpilot alerts --test`


class AlertTarget(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class AlertOutcome(StrEnum):
    SENT = "sent"  # at least one target took it
    FAILED = "failed"  # no target took it: tried again after a short delay


@dataclass(frozen=True, slots=True)
class Incident:
    """One open incident, as a check found it. `summary` is built from counts, times and
    contact references only: never from what a contact or the bot wrote."""

    kind: AlertKind
    summary: str
    scope: str = ""  # which one, when a kind has several at once
    # Incidents made of events (a request, a stop): the newest event's id. Alerted again
    # only when it grew; None for a condition, reminded after each cool-down while it lasts.
    mark: int | None = None
    contact_id: int | None = None
    path: str = OVERVIEW_PATH  # where the console shows it

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.scope}" if self.scope else self.kind.value


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """What reaches the operator: a short title (an e-mail's subject) and the text."""

    kind: AlertKind
    title: str
    text: str
