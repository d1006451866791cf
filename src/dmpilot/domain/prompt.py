"""What a language model is shown for one turn. Every message appears exactly once.

The persona block — who the persona is, the offer, the rules, the funnel with its
examples, the goodbye and the customer instructions — is byte-identical for every turn of
every contact, so a model that caches prompt prefixes reads it from cache. Everything
about this contact and this turn (stage, position, link, language, name, what we know,
what not to repeat) is in the turn block that follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dmpilot.domain.decision import MessageView
from dmpilot.domain.inbound import InboundKind, describe
from dmpilot.domain.intent import Intent
from dmpilot.domain.persona import Persona
from dmpilot.domain.policy import TurnPlan

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "de": "German",
    "pt": "Portuguese",
}


class Purpose(StrEnum):
    REPLY = "reply"
    EXIT = "exit"  # the goodbye that ends the funnel
    NUDGE = "nudge"  # the follow-up to a contact who went quiet after our reply


@dataclass(frozen=True, slots=True)
class Prompt:
    persona_block: str  # stable across turns and contacts: the cacheable prefix
    turn_block: str  # this contact and this turn
    transcript: tuple[tuple[str, str], ...]  # (role, text), roles alternate, first is "user"


def _fill(text: str, persona: Persona) -> str:
    return text.replace("{link}", str(persona.link.url)).replace(
        "{platform}", persona.link.platform
    )


def persona_block(persona: Persona) -> str:
    return "\n".join(line for line, _ in _persona_lines(persona))


def instructions(persona: Persona) -> str:
    """The directions in the persona block — what a reply must never recite. The story,
    the offer's facts and answers and the examples are left out: a reply may say them in
    its own words."""
    return "\n".join(line for line, directive in _persona_lines(persona) if directive)


def _persona_lines(persona: Persona) -> list[tuple[str, bool]]:
    """The persona block as (line, is a direction) pairs."""
    out: list[tuple[str, bool]] = []

    def say(*lines: str, directive: bool = True) -> None:
        out.extend((line, directive) for line in lines)

    say(f"You are {persona.name}, answering Instagram direct messages.")
    if persona.description:
        say(persona.description.strip(), directive=False)
    if persona.backstory:
        say("", "## Who you are")
        say(persona.backstory.strip(), directive=False)
    say("", "## How you write")
    say(*(f"- {rule}" for rule in persona.voice))
    say(
        f"- Keep every reply under {persona.max_words} words and at most "
        f"{persona.emoji.max_per_reply} emoji."
    )
    offer = persona.offer
    say("", "## What you offer")
    name = offer.name if offer else "your offer"
    say(
        f"{name}, at {persona.link.platform}: {persona.link.url}. This link is the only "
        "link you may ever write, and only when the turn instructions allow it."
    )
    if offer is not None:
        if offer.facts:
            say("Facts (the only things you may state about the offer):")
            say(*(f"- {fact}" for fact in offer.facts), directive=False)
        if offer.faq:
            say("Frequent questions:")
            for entry in offer.faq:
                say(f"- Q: {entry.question}", f"  A: {entry.answer}", directive=False)
        say(
            "If asked something these facts do not answer, say you'll check; never invent "
            "prices, discounts, features or promises."
        )
    say("", "## Rules")
    say(
        "- If someone sincerely asks whether you are a bot or an AI, never claim to be human.",
        "- Never invent links, and never write a link other than yours.",
        "- Never agree to meet, call or share a phone number, an address or another app.",
        "- Never write anything sexual or explicit.",
        "- Never ask for something they already told you (see 'what you know').",
        "- Never repeat or paraphrase your earlier replies.",
    )
    say(*(f"- Steer away from {topic}." for topic in persona.boundaries.avoid))
    say("", "## The conversation, stage by stage")
    for number, stage in enumerate(persona.stages, 1):
        link = " The link may be shared here." if stage.link_allowed else ""
        say(f"{number}. {stage.name} ({stage.max_replies} replies).{link}")
        if stage.instructions:
            say(f"   {stage.instructions.strip()}")
        for example in stage.examples:
            say(
                f"   Fan: {_fill(example.fan, persona)}",
                f"   You: {_fill(example.reply, persona)}",
                directive=False,
            )
    say("", "## The goodbye")
    if persona.exit_guidance:
        say(persona.exit_guidance.strip())
    examples = persona.exits.get(persona.default_language, [])
    say(*(f"- like: {line}" for line in examples[:3]), directive=False)
    if persona.customer is not None:
        say("", "## After a purchase", persona.customer.instructions.strip())
    if persona.nudge_guidance.strip():
        say("", "## The follow-up", persona.nudge_guidance.strip())
        lines = persona.nudge_lines.get(persona.default_language, [])
        say(*(f"- like: {line}" for line in lines[:3]), directive=False)
    return out


def turn_block(
    persona: Persona,
    plan: TurnPlan,
    *,
    purpose: Purpose = Purpose.REPLY,
    contact_name: str | None = None,
    known: tuple[str, ...] = (),
    recent_replies: tuple[str, ...] = (),
    feedback: tuple[str, ...] = (),
) -> str:
    language = LANGUAGE_NAMES.get(plan.language, plan.language)
    lines: list[str] = []
    if purpose is Purpose.EXIT:
        lines.append(
            "This is your last message in this conversation: write the goodbye, following "
            "'The goodbye'. Do not ask a question."
        )
    elif purpose is Purpose.NUDGE:
        lines.append(
            "They have not answered your last message for a while: write one short "
            "follow-up, following 'The follow-up'. Light, no pressure, no guilt, and never "
            "a repeat of what you already said."
        )
        if recent_replies:
            lines.append(f"Your last message, still unanswered: {recent_replies[0]}")
    elif plan.stage == "customer":
        lines.append(
            "They bought the offer: follow 'After a purchase'. Never mention buying or the link."
        )
    else:
        lines.append(
            f"Stage: {plan.stage}, reply {plan.reply_number} of {plan.stage_cap} in this stage."
        )
    if plan.link_sent:
        lines.append("You already shared the link in this conversation.")
    elif purpose is Purpose.REPLY and plan.stage != "customer":
        lines.append("The link has not been shared yet.")
    if plan.link_required:
        lines.append(
            f"This reply must include the link, calling it {persona.link.platform}: "
            f"{persona.link.url}"
        )
    elif plan.link_allowed:
        lines.append(
            f"You may share the link once, calling it {persona.link.platform}: {persona.link.url}"
        )
    else:
        lines.append("Do not include any link in this reply.")
    if plan.refer_to_link:
        reference = persona.in_language(persona.link_reference, plan.language)
        example = f" — for example: '{reference}'" if reference else ""
        lines.append(f"They ask for the link again: point them to the one you sent{example}.")
    if Intent.ASKS_PRICE in plan.intents:
        lines.append("They ask about the price: answer from the offer's facts, exactly.")
    if plan.no_pitch:
        lines.append(
            "They are joking or off topic, not asking to be sold to: answer lightly and do "
            "not mention the offer."
        )
    if contact_name:
        lines.append(f"Their name: {contact_name.split()[0]}.")
    if known:
        lines.append("What you know about them (never ask for it again):")
        lines += [f"- {fact}" for fact in known]
    if sum("?" in reply for reply in recent_replies[:2]) >= 2:
        lines.append("Your last two replies were questions: this time write a statement.")
    lines.append(f"Answer in {language}.")
    if recent_replies:
        lines.append("Do not repeat or paraphrase any of your recent replies:")
        lines += [f"- {reply}" for reply in recent_replies[:5]]
    if feedback:
        lines.append("Your previous draft was rejected. Write a different reply that fixes this:")
        lines += [f"- {reason}" for reason in feedback]
    return "\n".join(lines)


def transcript(
    history: tuple[MessageView, ...], pending: tuple[MessageView, ...]
) -> tuple[tuple[str, str], ...]:
    """History and pending messages merged by id, so none is shown twice."""
    unique = {m.id: m for m in (*history, *pending)}
    turns: list[tuple[str, str]] = []
    for message in sorted(unique.values(), key=lambda m: m.id):
        role = "user" if message.direction == "in" else "assistant"
        # Outbound kinds (reply, disclosure, exit, goodbye) are not inbound kinds.
        text = describe(InboundKind(message.kind), message.text) if role == "user" else message.text
        if not text:
            continue
        if turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n{text}")
        else:
            turns.append((role, text))
    while turns and turns[0][0] != "user":
        turns.pop(0)
    # The last message must be the contact's: models without assistant prefill refuse
    # anything else (Claude Haiku 5.5), and a reply answers the contact anyway.
    while turns and turns[-1][0] != "user":
        turns.pop()
    return tuple(turns)


def build_prompt(
    persona: Persona,
    plan: TurnPlan,
    history: tuple[MessageView, ...],
    pending: tuple[MessageView, ...],
    *,
    purpose: Purpose = Purpose.REPLY,
    contact_name: str | None = None,
    known: tuple[str, ...] = (),
    recent_replies: tuple[str, ...] = (),
    feedback: tuple[str, ...] = (),
    block: str | None = None,
) -> Prompt:
    """`block`: the persona block, when the caller keeps it built once."""
    return Prompt(
        block if block is not None else persona_block(persona),
        turn_block(
            persona,
            plan,
            purpose=purpose,
            contact_name=contact_name,
            known=known,
            recent_replies=recent_replies,
            feedback=feedback,
        ),
        transcript(history, pending),
    )
