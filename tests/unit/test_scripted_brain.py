import asyncio
import re
from datetime import datetime

import pytest

from dmpilot.brains import BrainExhausted, BrainRequest, ScriptedBrain
from dmpilot.brains.scripted import BUILTIN_LANGUAGES, builtin_bank, phrase_bank, stage_slot
from dmpilot.domain.decision import MessageView
from dmpilot.domain.language import detect_language, words
from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.persona import Persona
from dmpilot.domain.policy import PlanKind, TurnPlan
from dmpilot.domain.prompt import build_prompt, instructions
from dmpilot.domain.repetition import find_repeat
from dmpilot.domain.safety import claims_human
from dmpilot.domain.validator import EMOJI, URL, ReplyContext, validate
from dmpilot.personas import load_persona

PERSONA = load_persona()
NOW = datetime(2026, 11, 1)


def request(
    stage: str,
    recent: tuple[str, ...] = (),
    language: str = "en",
    kind: str = "text",
    link: bool = False,
    contact: int = 1,
    persona: Persona = PERSONA,
) -> BrainRequest:
    pending = (MessageView(1, "in", kind, "hello", NOW),)
    plan = TurnPlan(PlanKind.REPLY, stage, language, link_allowed=link)
    return BrainRequest(
        persona=persona,
        plan=plan,
        prompt=build_prompt(persona, plan, pending, pending, recent_replies=recent),
        pending=pending,
        recent_replies=recent,
        contact_id=contact,
        contact_name="Sam Doe",
        timeout_seconds=5,
        link_allowed=link,
    )


def generate(req: BrainRequest) -> str:
    return asyncio.run(ScriptedBrain(seed=3).generate(req)).text


def test_never_repeats_itself_over_a_whole_funnel() -> None:
    for language in PERSONA.languages:
        for contact in range(25):
            sent: list[str] = []
            for spec in PERSONA.stages:
                for _ in range(spec.max_replies):
                    recent = tuple(reversed(sent))
                    text = generate(request(spec.name, recent, language, contact=contact))
                    assert find_repeat(text, sent) is None
                    sent.append(text)


def test_deterministic_for_a_seed() -> None:
    assert generate(request("warm")) == generate(request("warm"))
    assert {generate(request("warm", contact=c)) for c in range(10)} != {generate(request("warm"))}


def test_link_only_when_allowed() -> None:
    url = str(PERSONA.link.url)
    assert url in generate(request("pitched", link=True))
    for contact in range(20):
        assert url not in generate(request("pitched", link=False, contact=contact))


def test_answers_in_the_requested_language_and_to_media() -> None:
    french = generate(request("cold", language="fr"))
    english_lines = PERSONA.phrases["en"].stages["cold"]
    assert not any(line in french for line in english_lines)
    voice = generate(request("cold", kind="voice"))
    assert any(lead in voice for lead in PERSONA.phrases["en"].media["voice"])


def test_exhaustion_is_an_error_not_a_repeat() -> None:
    everything = tuple(ScriptedBrain.candidates(request("hot"), PERSONA.phrases["en"]))
    with pytest.raises(BrainExhausted):
        generate(request("hot", everything))


# -- built-in phrase banks: personas without their own lines for a language -----------------

# Exits and disclosure are required; the brain never uses them, but they are native anyway.
NATIVE = {
    "es": ("me voy a descansar un rato, ¡gracias por la charla!", "soy un asistente de IA de Mia"),
    "it": ("ora devo andare, grazie per la chiacchierata!", "sono un assistente IA per Mia"),
    "de": ("ich muss jetzt los, danke für das nette gespräch!", "ich bin ein KI-Assistent von Mia"),
    "pt": ("preciso ir agora, obrigada pela conversa!", "sou um assistente de IA da Mia"),
    "fr": ("je dois filer, merci pour la discussion !", "je suis un assistant IA pour Mia"),
    "en": ("i have to run, thanks for the chat!", "i'm an AI assistant for Mia"),
}
PLATFORM = {
    "es": "mi tienda",
    "it": "il mio sito",
    "de": "meiner seite",
    "pt": "minha loja",
    "fr": "mon site",
    "en": "my shop",
}


def persona_in(language: str) -> Persona:
    """A persona that speaks only `language` and has no phrase bank of its own."""
    goodbye, disclosure = NATIVE[language]
    return Persona.model_validate(
        {
            "name": "Mia",
            "languages": [language],
            "link": {"url": "https://example.com/mia", "platform": PLATFORM[language]},
            "stages": [
                {"name": "hello", "max_replies": 3},
                {"name": "chat", "max_replies": 3},
                {"name": "story", "max_replies": 2},
                {"name": "offer", "max_replies": 2, "link_allowed": True},
            ],
            "exits": {language: [goodbye]},
            "disclosure": {language: [disclosure]},
        }
    )


def context(
    persona: Persona, language: str, stage: str, link: bool, recent: tuple[str, ...]
) -> ReplyContext:
    return ReplyContext(
        persona=persona,
        language=language,
        link_allowed=link,
        recent_replies=recent,
        # As the engine builds it: the leak check must not fire on built-in lines.
        system_prompt=instructions(persona),
        similarity_threshold=80.0,
        leak_threshold=0.3,
        links=LinkMatcher.for_link(str(persona.link.url)),
    )


@pytest.mark.parametrize("language", ["es", "it", "de", "pt"])
def test_a_persona_without_phrases_gets_valid_drafts_in_its_own_language(language: str) -> None:
    persona = persona_in(language)
    for contact in range(8):
        sent: list[str] = []
        for spec in persona.stages:
            for turn in range(spec.max_replies):
                link = spec.link_allowed and turn == 0  # a budget of one link
                recent = tuple(reversed(sent))
                req = request(
                    spec.name, recent, language, link=link, contact=contact, persona=persona
                )
                text = generate(req)
                assert validate(text, context(persona, language, spec.name, link, recent)) == []
                assert (str(persona.link.url) in text) == link
                sent.append(text)


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES)
def test_every_built_in_draft_passes_the_validator(language: str) -> None:
    persona = persona_in(language)
    for spec in persona.stages:
        for link in {False, spec.link_allowed}:
            for kind in ("text", "image", "voice", "sticker", "story_reply", "share"):
                req = request(spec.name, (), language, kind, link, persona=persona)
                bank = phrase_bank(persona, language)
                assert bank is not None
                for text in ScriptedBrain.candidates(req, bank):
                    assert validate(text, context(persona, language, spec.name, link, ())) == []


@pytest.mark.parametrize("language", BUILTIN_LANGUAGES)
def test_built_in_banks_are_native_short_and_roomy(language: str) -> None:
    bank = builtin_bank(language)
    assert bank is not None
    assert set(bank.stages) == {"early", "middle", "late", "link"}
    assert set(bank.media) == {"image", "voice", "sticker", "story", "share"}
    link_lines = bank.stages["link"]
    groups = [bank.openers, *bank.media.values(), *bank.stages.values()]
    groups += [
        [x for x in link_lines if "{link}" in x],
        [x for x in link_lines if "{link}" not in x],
    ]
    for group in groups:
        assert len(set(group)) >= 6, group  # room for the repetition check
    for line in {line for group in groups for line in group}:
        text = re.sub(r"\{\w+\}", " ", line)
        assert len(line.split()) <= 15, line
        assert not EMOJI.search(line) and not URL.search(text) and not claims_human(line), line
        if len(words(text)) >= 4:
            assert detect_language(text) == language, line


def test_stages_map_to_built_in_lines_by_position() -> None:
    persona = persona_in("es")
    slots = [stage_slot(persona, spec) for spec in persona.stages]
    assert slots == ["early", "middle", "late", "link"]
    bank = phrase_bank(persona, "es")
    builtin = builtin_bank("es")
    assert bank is not None and builtin is not None
    assert bank.stages["hello"] == builtin.stages["early"]
    assert bank.stages["offer"] == builtin.stages["link"]


def test_own_lines_win_and_built_in_lines_fill_the_gaps() -> None:
    data = persona_in("es").model_dump(mode="json")
    data["phrases"] = {"es": {"openers": ["vaya"], "stages": {"hello": ["¿de dónde eres tú?"]}}}
    persona = Persona.model_validate(data)
    bank = phrase_bank(persona, "es")
    builtin = builtin_bank("es")
    assert bank is not None and builtin is not None
    assert bank.openers == ["vaya"]
    assert bank.stages["hello"] == ["¿de dónde eres tú?"]
    assert bank.stages["chat"] == builtin.stages["middle"]
    # The bundled persona's own banks are used as they are.
    assert phrase_bank(PERSONA, "fr") == PERSONA.phrases["fr"]
