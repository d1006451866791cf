"""Follow-up nudges: one short message to a contact who went quiet after our reply.

A reply in a stage with `follow_up_hours` schedules a follow-up in its own commit (one row
per contact, so at most one is pending), due that many hours later and never later than
`FOLLOW_UP_MARGIN` before Meta's 24-hour window closes. The contact writing, a click on
the tracked link or a person taking over cancel it at once; everything else is checked
when it comes due (`cancel_reason`). The nudge is a turn of its own (`nudge_trigger`), so
it is committed once across processes, fenced like any bot commit, and sent through the
outbox. Every cancellation is an event with its `FollowUpCancel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dmpilot.domain.decision import ContactState, Reason
from dmpilot.domain.delivery import MESSAGING_WINDOW, DeliveryKind
from dmpilot.domain.persona import FOLLOW_UP_MARGIN, Persona
from dmpilot.domain.policy import REACTIVATABLE_STOPS
from dmpilot.domain.repetition import find_repeat

# A nudge whose turn died with its process is claimed again after its lease, at most this
# many times in all: a nudge that keeps crashing a worker is given up, not retried forever.
MAX_CLAIMS = 3


def nudge_trigger(reply_id: int) -> str:
    """The nudge's turn: one per reply it follows, ever."""
    return f"nudge:{reply_id}"


class FollowUpState(StrEnum):
    PENDING = "pending"  # waiting for its due time
    SENT = "sent"  # the nudge was committed; its delivery is in the outbox
    CANCELLED = "cancelled"  # dropped; `reason` is a FollowUpCancel
    FAILED = "failed"  # no nudge could be written (model error, every draft refused): silence


class FollowUpCancel(StrEnum):
    """Why a follow-up was dropped. Stored in events.reason (kind follow_up_cancelled)."""

    CONTACT_WROTE = "contact_wrote"  # they answered: there is nothing to follow up
    LINK_CLICKED = "link_clicked"  # they followed the tracked link
    HANDOFF = "handoff"  # a person took the contact over
    STOPPED = "stopped"  # stopped for good (opt-out, minor, an operator)
    EXITED = "exited"  # the funnel ended (the exit was sent) or started over since the reply
    CONVERTED = "converted"  # marked converted
    PAUSED = "paused"  # the kill switch was on when it came due
    WINDOW = "window"  # Meta's 24-hour window would close before the nudge could go out
    MAX_NUDGES = "max_nudges"  # this funnel cycle had its persona.max_nudges already
    SUPERSEDED = "superseded"  # something else was sent to the contact after the reply
    UNDELIVERED = "undelivered"  # the reply it follows never reached the contact
    OFF = "off"  # the persona no longer asks for a follow-up after this stage


@dataclass(frozen=True, slots=True)
class FollowUpPlan:
    """What a reply's commit does about a follow-up: schedule it, or say why not."""

    due_at: datetime | None  # None: not scheduled, `skipped` says why
    skipped: FollowUpCancel | None = None


def latest_nudge_at(last_inbound_at: datetime) -> datetime:
    """The last moment a nudge may be due: the window's close, minus the margin."""
    return last_inbound_at + MESSAGING_WINDOW - FOLLOW_UP_MARGIN


def nudges_in_cycle(state: ContactState) -> int:
    """Nudges this funnel cycle sent (withdrawn ones never reached the contact)."""
    return sum(1 for kind, _, _ in state.cycle_outbound if kind == DeliveryKind.NUDGE.value)


def plan_follow_up(
    persona: Persona,
    stage: str,
    *,
    reply_at: datetime,
    last_inbound_at: datetime | None,
    nudges_sent: int,
) -> FollowUpPlan | None:
    """The follow-up after a reply in `stage` going out at `reply_at`; None when the stage
    asks for none."""
    hours = persona.follow_up_hours(stage)
    if hours is None or last_inbound_at is None:
        return None
    if nudges_sent >= persona.max_nudges:
        return FollowUpPlan(None, FollowUpCancel.MAX_NUDGES)
    due = reply_at + timedelta(hours=hours)
    if due > latest_nudge_at(last_inbound_at):
        return FollowUpPlan(None, FollowUpCancel.WINDOW)
    return FollowUpPlan(due)


@dataclass(frozen=True, slots=True)
class DueFollowUp:
    """A follow-up that came due, with what the store found about its reply when a worker
    claimed it (under the contact's lease)."""

    contact_id: int
    reply_id: int  # the reply it follows
    stage: str  # the reply's stage
    due_at: datetime
    claims: int  # claims so far, this one included
    reply_language: str | None
    reply_delivered: bool  # its delivery reached the channel (`sent`)
    reply_in_cycle: bool  # sent in the contact's current funnel cycle
    newest_inbound_id: int  # 0: none
    newest_outbound_id: int  # of the messages not withdrawn


def cancel_reason(
    due: DueFollowUp, state: ContactState, persona: Persona, now: datetime
) -> FollowUpCancel | None:
    """Why the nudge may not be written now, or None. Message ids are one sequence per
    database and a contact's rows are written under its row lock, so an inbound id above
    the reply's is a message written after it."""
    if state.paused:
        return FollowUpCancel.PAUSED
    if state.converted_at is not None:
        return FollowUpCancel.CONVERTED
    if state.stopped_at is not None:
        ended = state.stop_reason in REACTIVATABLE_STOPS
        return FollowUpCancel.EXITED if ended else FollowUpCancel.STOPPED
    if state.in_handoff(now):
        return FollowUpCancel.HANDOFF
    if due.newest_inbound_id > due.reply_id:
        return FollowUpCancel.CONTACT_WROTE
    if not due.reply_in_cycle:
        return FollowUpCancel.EXITED
    if not due.reply_delivered:
        return FollowUpCancel.UNDELIVERED
    if due.newest_outbound_id != due.reply_id:
        return FollowUpCancel.SUPERSEDED
    if persona.follow_up_hours(due.stage) is None:
        return FollowUpCancel.OFF
    if nudges_in_cycle(state) >= persona.max_nudges:
        return FollowUpCancel.MAX_NUDGES
    if state.last_inbound_at is None or now > latest_nudge_at(state.last_inbound_at):
        return FollowUpCancel.WINDOW
    return None


def nudge_language(due: DueFollowUp, persona: Persona) -> str:
    """The nudge speaks the language of the reply it follows."""
    if due.reply_language in persona.languages:
        return due.reply_language
    return persona.default_language


def nudge_lines(persona: Persona, language: str, recent: tuple[str, ...]) -> list[str]:
    """The persona's nudge lines in `language` that repeat none of the recent replies."""
    lines = persona.nudge_lines.get(language, [])
    return [line for line in lines if find_repeat(line, recent) is None]


@dataclass(frozen=True, slots=True)
class NudgeOutcome:
    """What a due follow-up came to."""

    contact_id: int
    delivery_id: int | None = None  # the nudge is in the outbox
    cancelled: FollowUpCancel | None = None  # dropped at its due time, and why
    reason: Reason | None = None  # nothing was written: why (model error, refused drafts)

    @property
    def sent(self) -> bool:
        return self.delivery_id is not None
