"""The scripted fan's words: fan_lines.yaml, per language and act."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

from dmpilot.eval.kinds import Act, RevealKind
from dmpilot.eval.scenario import Step

# Half of an emoji's surrogate pair: what broke the old system's model calls.
LONE_SURROGATE = "\ud83d"


class LanguageLines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    talk: list[str] = Field(min_length=1)
    asks_price: list[str] = Field(min_length=1)
    asks_link: list[str] = Field(min_length=1)
    interested: list[str] = Field(min_length=1)
    asks_bot: list[str] = Field(min_length=1)
    says_stop: list[str] = Field(min_length=1)
    asks_meeting: list[str] = Field(min_length=1)
    injection: list[str] = Field(min_length=1)
    lookalike: list[str] = Field(min_length=1)
    reveal: dict[RevealKind, str]


class FanLines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    en: LanguageLines
    fr: LanguageLines
    es: LanguageLines
    it: LanguageLines
    de: LanguageLines
    pt: LanguageLines
    emojis: list[str] = Field(min_length=1)
    photo: str

    def language(self, code: str) -> LanguageLines:
        lines: LanguageLines = getattr(self, code)
        return lines


@cache
def fan_lines() -> FanLines:
    source = resources.files("dmpilot.eval").joinpath("fan_lines.yaml")
    return FanLines.model_validate(yaml.safe_load(source.read_text(encoding="utf-8")))


def _pick(options: list[str], occurrence: int) -> str:
    return options[occurrence % len(options)]


def scripted_text(step: Step) -> str | None:
    """What the fan writes at `step`; None for a message without text (sticker, voice)."""
    turn = step.turn
    if turn.say is not None:
        return turn.say
    bank = fan_lines()
    lines = bank.language(step.language)
    act = turn.act
    if act is Act.REVEAL and turn.fact is not None:
        return lines.reveal[turn.fact].format(value=turn.value)
    if act is Act.EMOJIS_ONLY:
        return _pick(bank.emojis, step.occurrence)
    if act is Act.PHOTO:
        return bank.photo
    if act in (Act.STICKER, Act.VOICE):
        return None
    if act is Act.BROKEN_TEXT:
        return f"{_pick(lines.talk, step.occurrence + 1)} {LONE_SURROGATE}"
    if act is Act.TALK:
        # The opening line is the first; later small talk follows the list in order.
        return lines.talk[0] if step.number == 1 else _pick(lines.talk[1:], step.number - 2)
    options: list[str] = getattr(lines, act.value)
    return _pick(options, step.occurrence)


def attachment(step: Step) -> str | None:
    """The platform's attachment type for a message that is not text."""
    return {Act.STICKER: "sticker", Act.VOICE: "audio"}.get(step.turn.act)
