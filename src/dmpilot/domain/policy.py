"""The conversation policy: given a contact's state, what this turn should do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dmpilot.domain.decision import ContactState, Reason
from dmpilot.domain.funnel import EXIT_STAGE, STOPPED_STAGE, position
from dmpilot.domain.persona import Persona
from dmpilot.domain.repetition import find_repeat
from dmpilot.domain.safety import asks_if_bot

# Only a funnel that ran its course may start again; an opt-out or a minor never does.
REACTIVATABLE_STOPS = frozenset({Reason.CAP.value})


class PlanKind(StrEnum):
    REPLY = "reply"
    DISCLOSE = "disclose"  # answer "are you a bot?" with the persona's disclosure line
    EXIT = "exit"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class TurnPlan:
    kind: PlanKind
    stage: str
    language: str
    reason: Reason | None = None  # why a SKIP skips, or why an EXIT stops (cap, converted)
    reactivate: bool = False
    link_allowed: bool = False


def reply_language(state: ContactState, persona: Persona) -> str:
    """The language to answer in: the contact's current one when the persona speaks it."""
    for message in reversed(state.pending):
        # Detected among all languages at ingest: German must not pass for French
        # because the persona speaks only English and French.
        detected = message.language
        if detected:
            return detected if detected in persona.languages else persona.default_language
    if state.language in persona.languages:
        return state.language
    return persona.default_language


def can_reactivate(state: ContactState, persona: Persona, now: datetime) -> bool:
    if state.stopped_at is None or persona.reactivate_after_days is None:
        return False
    if state.stop_reason not in REACTIVATABLE_STOPS:
        return False
    return now - state.stopped_at >= timedelta(days=persona.reactivate_after_days)


def disclosure_line(persona: Persona, language: str, recent: tuple[str, ...]) -> str | None:
    """A disclosure line in `language` not sent recently to this contact, if any is left."""
    lines = persona.in_language(persona.disclosure, language) or []
    return next((line for line in lines if find_repeat(line, recent) is None), None)


def plan_turn(state: ContactState, persona: Persona, now: datetime) -> TurnPlan:
    language = reply_language(state, persona)
    reactivate = False
    replies = state.replies_in_cycle
    links = state.links_in_cycle(str(persona.link.url))
    if state.stopped_at is not None:
        if not can_reactivate(state, persona, now):
            return TurnPlan(PlanKind.SKIP, STOPPED_STAGE, language, Reason.STOPPED)
        reactivate, replies, links = True, 0, 0
    spot = position(replies, persona.stages)
    # Honesty first: a sincere "are you a bot?" is answered before anything else.
    if any(asks_if_bot(message.text) for message in state.pending):
        stage = spot.stage if not spot.exhausted else persona.stages[-1].name
        return TurnPlan(PlanKind.DISCLOSE, stage, language, reactivate=reactivate)
    if state.converted_at is not None:
        return TurnPlan(PlanKind.EXIT, EXIT_STAGE, language, Reason.CONVERTED)
    if spot.exhausted:
        return TurnPlan(PlanKind.EXIT, spot.stage, language, Reason.CAP, reactivate=reactivate)
    spec = persona.stage(spot.stage)
    link_allowed = spec.link_allowed and links < persona.link.budget
    return TurnPlan(
        PlanKind.REPLY, spot.stage, language, reactivate=reactivate, link_allowed=link_allowed
    )
