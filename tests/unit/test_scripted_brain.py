import asyncio
from datetime import datetime

import pytest

from dmpilot.brains import BrainExhausted, BrainRequest, ScriptedBrain
from dmpilot.domain.decision import MessageView
from dmpilot.domain.prompt import build_prompt
from dmpilot.domain.repetition import find_repeat
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
) -> BrainRequest:
    pending = (MessageView(1, "in", kind, "hello", NOW),)
    spec = PERSONA.stage(stage)
    return BrainRequest(
        persona=PERSONA,
        stage=spec,
        language=language,
        link_allowed=link,
        prompt=build_prompt(PERSONA, spec, language, link, pending, pending, recent),
        pending=pending,
        recent_replies=recent,
        contact_id=contact,
        contact_name="Sam Doe",
        timeout_seconds=5,
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
