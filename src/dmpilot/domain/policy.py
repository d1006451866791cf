"""The conversation policy: given a contact's state, what this turn should do.

Honesty first (a sincere "are you a bot?" gets the disclosure), then the persona's
boundaries (an explicit request, a meeting or a phone number gets its own decline), then
the funnel: the stage, the reply language, and whether the link may, must or must not go
in this reply — which depends on the stage, the budget and what the contact asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dmpilot.domain.decision import ContactState, Reason
from dmpilot.domain.funnel import CUSTOMER_STAGE, EXIT_STAGE, STOPPED_STAGE, position
from dmpilot.domain.intent import Intent, detect_intents
from dmpilot.domain.persona import Persona
from dmpilot.domain.repetition import find_repeat
from dmpilot.domain.safety import OptOut, asks_for_human, asks_if_bot, opt_out_level

# Only a funnel that ran its course may start again; an opt-out or a minor never does.
REACTIVATABLE_STOPS = frozenset({Reason.CAP.value})
# What a contact may ask that opens the link for this reply, within its budget.
LINK_INTENTS = frozenset({Intent.ASKS_LINK, Intent.ASKS_PRICE})


class PlanKind(StrEnum):
    REPLY = "reply"
    DISCLOSE = "disclose"  # answer "are you a bot?" with the persona's disclosure line
    BOUNDARY = "boundary"  # decline an explicit or out-of-scope request in the persona's words
    EXIT = "exit"
    SKIP = "skip"


class Effect(StrEnum):
    """What the turn did about an intent (recorded with it, so stats can follow it)."""

    LINK_OPENED = "link_opened"  # the link may go in this reply, whatever the stage
    LINK_REQUIRED = "link_required"  # asked for it outright: the reply must carry it
    LINK_REFERRED = "link_referred"  # the link was already sent: the reply points to it
    ADVANCED = "advanced"  # the contact moved to the next stage
    DECLINED = "declined"  # the persona's boundary line
    NO_PITCH = "no_pitch"  # the reply must not pitch
    NONE = "none"


@dataclass(frozen=True, slots=True)
class TurnPlan:
    kind: PlanKind
    stage: str
    language: str
    reason: Reason | None = None  # why a SKIP skips, or why an EXIT stops (cap, converted)
    reactivate: bool = False
    link_allowed: bool = False
    link_required: bool = False  # the last chance to share the unused link, or asked for it
    link_sent: bool = False  # the budget is used: the link was already shared this cycle
    refer_to_link: bool = False  # they ask for the link again: point to the one sent
    reply_number: int = 1  # within the stage
    stage_cap: int = 1
    no_pitch: bool = False  # "stop it 😂": answer, but never pitch
    boundary: str | None = None  # BOUNDARY: "explicit" or "meeting"
    intents: frozenset[Intent] = field(default_factory=frozenset)
    effects: tuple[tuple[Intent, Effect], ...] = ()


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


def boundary_line(
    persona: Persona, kind: str, language: str, recent: tuple[str, ...]
) -> str | None:
    """The persona's decline for `kind` ("explicit" or "meeting") not sent recently."""
    table: dict[str, list[str]] = getattr(persona.boundaries, kind)
    lines = persona.in_language(table, language) or []
    return next((line for line in lines if find_repeat(line, recent) is None), None)


def plan_turn(
    state: ContactState, persona: Persona, now: datetime, carries_link: Callable[[str], bool]
) -> TurnPlan:
    """`carries_link` says whether a sent text held the persona's link (domain.links)."""
    language = reply_language(state, persona)
    texts = [message.text for message in state.pending if message.text]
    intents = frozenset(intent for text in texts for intent in detect_intents(text))
    reactivate = False
    reply_stages = state.reply_stages
    links = state.links_in_cycle(carries_link)
    if state.stopped_at is not None:
        if not can_reactivate(state, persona, now):
            return TurnPlan(PlanKind.SKIP, STOPPED_STAGE, language, Reason.STOPPED)
        reactivate, reply_stages, links = True, [], 0
    floor = None if reactivate else state.stage
    spot = position(reply_stages, persona.stages, floor)

    # Honesty first: a sincere "are you a bot?" is answered before anything else.
    if any(asks_if_bot(text) or asks_for_human(text) for text in texts):
        stage = spot.stage if not spot.exhausted else persona.stages[-1].name
        return TurnPlan(PlanKind.DISCLOSE, stage, language, reactivate=reactivate)
    # The persona's boundaries come before any funnel logic, and never pitch.
    for intent, kind in ((Intent.EXPLICIT, "explicit"), (Intent.OUT_OF_SCOPE, "meeting")):
        if intent in intents and persona.in_language(getattr(persona.boundaries, kind), language):
            stage = spot.stage if not spot.exhausted else persona.stages[-1].name
            return TurnPlan(
                PlanKind.BOUNDARY,
                stage,
                language,
                reactivate=reactivate,
                boundary=kind,
                intents=intents,
                effects=((intent, Effect.DECLINED),),
            )

    budget_left = links < persona.link.budget
    asked = intents & LINK_INTENTS
    no_pitch = any(opt_out_level(text) is OptOut.AMBIGUOUS for text in texts)
    no_pitch = no_pitch or bool(intents & {Intent.EXPLICIT, Intent.OUT_OF_SCOPE})

    if state.converted_at is not None:
        return _customer_plan(state, persona, language, intents)
    if spot.exhausted:
        return TurnPlan(
            PlanKind.EXIT,
            spot.stage,
            language,
            Reason.CAP,
            reactivate=reactivate,
            link_allowed=budget_left and not no_pitch,
            link_sent=not budget_left,
            intents=intents,
        )

    effects: list[tuple[Intent, Effect]] = []
    stage_index = persona.stage_index(spot.stage)
    if Intent.INTERESTED in intents and not no_pitch:
        first_link = next(
            (i for i, spec in enumerate(persona.stages) if spec.link_allowed), len(persona.stages)
        )
        if stage_index < first_link and stage_index + 1 < len(persona.stages):
            stage_index += 1
            effects.append((Intent.INTERESTED, Effect.ADVANCED))
    spec = persona.stages[stage_index]
    reply_number = spot.reply_number if spec.name == spot.stage else 1
    link_allowed = spec.link_allowed and budget_left
    link_required = link_allowed and _last_chance(persona, stage_index, reply_number)
    if asked and budget_left and not no_pitch:
        link_allowed = True
        outright = Intent.ASKS_LINK in asked
        link_required = link_required or outright
        effects += [
            (intent, Effect.LINK_REQUIRED if outright else Effect.LINK_OPENED) for intent in asked
        ]
    elif asked and not budget_left:
        effects += [(intent, Effect.LINK_REFERRED) for intent in asked]
    if no_pitch:
        link_allowed = link_required = False
        effects += [(intent, Effect.NO_PITCH) for intent in intents if intent in asked]
    return TurnPlan(
        PlanKind.REPLY,
        spec.name,
        language,
        reactivate=reactivate,
        link_allowed=link_allowed,
        link_required=link_required,
        link_sent=not budget_left,
        refer_to_link=bool(asked) and not budget_left,
        reply_number=reply_number,
        stage_cap=spec.max_replies,
        no_pitch=no_pitch,
        intents=intents,
        effects=tuple(effects),
    )


def _last_chance(persona: Persona, stage_index: int, reply_number: int) -> bool:
    """This is the last reply of the last stage that allows the link."""
    spec = persona.stages[stage_index]
    later = any(s.link_allowed for s in persona.stages[stage_index + 1 :])
    return spec.link_allowed and not later and reply_number >= spec.max_replies


def _customer_plan(
    state: ContactState, persona: Persona, language: str, intents: frozenset[Intent]
) -> TurnPlan:
    """A converted contact is helped, never pitched; without customer instructions, or once
    their replies are used, the goodbye (without the link) ends the conversation."""
    customer = persona.customer
    helped = sum(1 for stage in state.reply_stages if stage == CUSTOMER_STAGE)
    if customer is None or helped >= customer.max_replies:
        return TurnPlan(PlanKind.EXIT, EXIT_STAGE, language, Reason.CONVERTED, intents=intents)
    return TurnPlan(
        PlanKind.REPLY,
        CUSTOMER_STAGE,
        language,
        reply_number=helped + 1,
        stage_cap=customer.max_replies,
        no_pitch=True,
        link_sent=True,
        intents=intents,
    )
