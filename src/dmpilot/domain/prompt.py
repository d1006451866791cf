"""What a language model is shown for one turn. Every message appears exactly once."""

from __future__ import annotations

from dataclasses import dataclass

from dmpilot.domain.decision import MessageView
from dmpilot.domain.inbound import InboundKind, describe
from dmpilot.domain.persona import Persona, StageSpec

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "de": "German",
    "pt": "Portuguese",
}


@dataclass(frozen=True, slots=True)
class Prompt:
    persona_block: str  # stable across turns and contacts: the cacheable prefix
    turn_block: str  # this turn's stage, language, link rule and do-not-repeat list
    transcript: tuple[tuple[str, str], ...]  # (role, text), roles alternate, first is "user"


def persona_block(persona: Persona) -> str:
    lines = [f"You are {persona.name}, answering Instagram direct messages."]
    if persona.description:
        lines.append(persona.description.strip())
    if persona.voice:
        lines.append("Voice:")
        lines.extend(f"- {rule}" for rule in persona.voice)
    lines.append(
        f"Keep every reply under {persona.max_words} words. Never invent links. "
        "If someone sincerely asks whether you are a bot or an AI, do not claim to be human."
    )
    return "\n".join(lines)


def turn_block(
    persona: Persona,
    stage: StageSpec,
    language: str,
    link_allowed: bool,
    recent_replies: tuple[str, ...],
    feedback: tuple[str, ...] = (),
) -> str:
    lines = [f"Current stage: {stage.name}."]
    if stage.instructions:
        lines.append(stage.instructions.strip())
    lines.append(f"Answer in {LANGUAGE_NAMES.get(language, language)}.")
    if link_allowed:
        lines.append(
            f"You may share this link once, calling it {persona.link.platform}: {persona.link.url}"
        )
    else:
        lines.append("Do not include any link in this reply.")
    if recent_replies:
        lines.append("Do not repeat or paraphrase any of your recent replies:")
        lines.extend(f"- {reply}" for reply in recent_replies[:5])
    if feedback:
        lines.append("Your previous draft was rejected. Write a different reply that fixes this:")
        lines.extend(f"- {reason}" for reason in feedback)
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
    return tuple(turns)


def build_prompt(
    persona: Persona,
    stage: StageSpec,
    language: str,
    link_allowed: bool,
    history: tuple[MessageView, ...],
    pending: tuple[MessageView, ...],
    recent_replies: tuple[str, ...],
    feedback: tuple[str, ...] = (),
) -> Prompt:
    return Prompt(
        persona_block(persona),
        turn_block(persona, stage, language, link_allowed, recent_replies, feedback),
        transcript(history, pending),
    )
