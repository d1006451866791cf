"""The scripted fan's words mean to dmpilot's detectors what their act says, in every
language: an ask is an ask, small talk asks nothing, a reveal is remembered, a minor's age
stops the conversation and an adult's does not."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from dmpilot.domain.inbound import InboundKind, classify
from dmpilot.domain.intent import Intent, detect_intents
from dmpilot.domain.language import SUPPORTED, detect_language
from dmpilot.domain.memory import FactKind, extract_facts
from dmpilot.domain.safety import (
    asks_for_human,
    asks_if_bot,
    looks_like_injection,
    opt_out_level,
    opts_out,
    says_minor,
)
from dmpilot.eval.kinds import Act, FanLanguage, RevealKind
from dmpilot.eval.lines import LONE_SURROGATE, fan_lines, scripted_text
from dmpilot.eval.scenario import Scenario, Step, Turn

LANGUAGES = list(get_args(FanLanguage))
BANK = fan_lines()
INTENT_OF = {
    "asks_price": Intent.ASKS_PRICE,
    "asks_link": Intent.ASKS_LINK,
    "interested": Intent.INTERESTED,
    "asks_meeting": Intent.OUT_OF_SCOPE,
}
# The injection detector covers English and French; elsewhere the line is only realistic.
INJECTION_LANGUAGES = ("en", "fr")


def lines(act: str) -> list[tuple[str, str]]:
    return [(code, line) for code in LANGUAGES for line in getattr(BANK.language(code), act)]


def flags(text: str) -> set[str]:
    """Everything a detector sees in `text`."""
    found = {intent.value for intent in detect_intents(text)}
    if asks_if_bot(text) or asks_for_human(text):
        found.add("bot")
    if says_minor(text):
        found.add("minor")
    if opt_out_level(text).value != "none":
        found.add("opt_out")
    if looks_like_injection(text):
        found.add("injection")
    return found


def test_the_bank_speaks_every_supported_language() -> None:
    assert tuple(LANGUAGES) == SUPPORTED


@pytest.mark.parametrize(("language", "line"), lines("talk") + lines("lookalike"))
def test_small_talk_and_lookalikes_ask_for_nothing(language: str, line: str) -> None:
    assert flags(line) == set(), line
    assert detect_language(line) in (language, None), line


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_opening_line_shows_its_language(language: str) -> None:
    assert detect_language(BANK.language(language).talk[0]) == language


@pytest.mark.parametrize("act", sorted(INTENT_OF))
def test_asks_carry_their_intent(act: str) -> None:
    for language, line in lines(act):
        assert INTENT_OF[act] in detect_intents(line), (language, line)
        assert flags(line) - {i.value for i in Intent} == set(), (language, line)


def test_bot_questions_stops_and_injections_are_recognised() -> None:
    for language, line in lines("asks_bot"):
        assert asks_if_bot(line) or asks_for_human(line), (language, line)
    for language, line in lines("says_stop"):
        assert opts_out(line), (language, line)
    for language, line in lines("injection"):
        if language in INJECTION_LANGUAGES:
            assert looks_like_injection(line), (language, line)
        assert flags(line) <= {"injection"}, (language, line)


@pytest.mark.parametrize("language", LANGUAGES)
def test_reveals_are_remembered_and_ages_judged(language: str) -> None:
    templates = BANK.language(language).reveal
    for kind, value in ((RevealKind.NAME, "Robin"), (RevealKind.CITY, "Lyon")):
        facts = {f.kind: f.value for f in extract_facts(templates[kind].format(value=value))}
        assert facts.get(kind.fact) == value, (language, kind)
    adult = templates[RevealKind.AGE].format(value="24")
    assert not says_minor(adult)
    assert {f.kind: f.value for f in extract_facts(adult)}.get(FactKind.AGE) == "24"
    minor = templates[RevealKind.AGE].format(value="16")
    assert says_minor(minor), (language, minor)


def step(act: Act, number: int = 2, occurrence: int = 0, **turn: Any) -> Step:
    return Step(number, Turn(act=act, **turn), "en", occurrence, number)


def test_scripted_text_follows_the_bank() -> None:
    en = BANK.language("en")
    assert scripted_text(step(Act.TALK, number=1)) == en.talk[0]
    assert scripted_text(step(Act.TALK, number=2)) == en.talk[1]
    assert scripted_text(step(Act.ASKS_LINK, occurrence=1)) == en.asks_link[1]
    assert scripted_text(step(Act.ASKS_BOT, occurrence=len(en.asks_bot))) == en.asks_bot[0]
    assert scripted_text(step(Act.TALK, say="my own words")) == "my own words"
    reveal = step(Act.REVEAL, fact=RevealKind.CITY, value="Porto")
    assert scripted_text(reveal) == "I'm from Porto"
    assert scripted_text(step(Act.STICKER)) is None and scripted_text(step(Act.VOICE)) is None


def test_media_and_broken_text_arrive_as_a_channel_sends_them() -> None:
    kind, clean, media, _ = classify(text=scripted_text(step(Act.PHOTO)))
    assert (kind, clean) == (InboundKind.MEDIA, "") and media is not None
    broken = scripted_text(step(Act.BROKEN_TEXT))
    assert broken is not None and LONE_SURROGATE in broken
    kind, clean, _, notes = classify(text=broken)
    assert kind is InboundKind.TEXT and LONE_SURROGATE not in clean and "sanitized" in notes
    emojis = scripted_text(step(Act.EMOJIS_ONLY))
    assert emojis is not None and not any(ch.isalpha() for ch in emojis)


def test_every_bundled_act_has_words_in_every_language() -> None:
    scenario = Scenario(id="all", title="every act", language="de", length=len(Act))
    assert scenario.size == len(Act)
    for act in Act:
        if act in (Act.STICKER, Act.VOICE):
            continue
        turn = (
            Turn(act=act, fact=RevealKind.NAME, value="Kim") if act is Act.REVEAL else Turn(act=act)
        )
        for language in LANGUAGES:
            text = scripted_text(Step(3, turn, language, 0, 3))
            assert text, (act, language)
