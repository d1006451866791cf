"""The link budget holds for every spelling of the link, in the live check and the audit."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import select

from dmpilot.audit import Finding, run_audit
from dmpilot.brains import BrainReply, BrainRequest, ProbeResult
from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.persona import Persona
from dmpilot.engine import EngineConfig
from dmpilot.personas import load_persona
from dmpilot.store import Store
from dmpilot.store.schema import link_tokens, messages
from support import T0, FakeClock, build_engine, engine_config, text_inbound

SPELLINGS = [
    "example.com/lena-presets",
    "http://example.com/lena-presets",
    "www.example.com/lena-presets/",
    "EXAMPLE.com/lena-presets",
    "(https://example.com/lena-presets).",
    "https://www.Example.com/lena-presets?utm=dm",
]


def link_persona(url: str = "https://example.com/lena-presets") -> Persona:
    """The example persona with the link allowed from the first reply, budget 1."""
    base = load_persona()
    stages = [stage.model_copy(update={"link_allowed": True}) for stage in base.stages]
    link = base.link.model_copy(update={"url": url, "budget": 1})
    return base.model_copy(update={"stages": stages, "link": link})


QUESTIONS = [
    "which mountain range surprised you the most?",
    "do you shoot sunrise or sunset more often?",
    "what was the strangest meal on your last trip?",
    "have you ever printed one of your photos big?",
    "is there a city you keep going back to?",
    "who taught you to take pictures first?",
    "what song reminds you of your favourite journey?",
    "how do you keep your camera dry in the rain?",
    "did a local ever show you a hidden viewpoint?",
    "which season has the prettiest light at home?",
    "are you more of a planner or an improviser?",
    "what is next on your travel bucket list?",
    "would you rather hike a volcano or dive a reef?",
    "which of your photos got the most likes ever?",
    "do you edit on a laptop or straight on your phone?",
    "what language would you love to learn for travel?",
    "have you photographed the northern lights yet?",
]


class SpellingBrain:
    """A pushy model: every first draft carries the link, each time spelled differently;
    after a rejection it writes a plain question."""

    name = "spelling"
    checks_broadcast = True

    def __init__(self, spellings: list[str]) -> None:
        self.spellings = spellings
        self.numbers = count()

    async def generate(self, request: BrainRequest) -> BrainReply:
        n = next(self.numbers)
        if request.rejected:
            return BrainReply(QUESTIONS[n % len(QUESTIONS)], "spelling")
        link = self.spellings[n % len(self.spellings)]
        return BrainReply(f"{QUESTIONS[n % len(QUESTIONS)]} my presets: {link}", "spelling")

    async def probe(self, timeout_seconds: float) -> ProbeResult:
        return ProbeResult.ok()

    async def aclose(self) -> None: ...


def config(public_url: str | None = None) -> EngineConfig:
    return engine_config(public_url=public_url)


def sent_texts(store: Store) -> list[str]:
    with store.reading() as reads:
        return list(
            reads.db.scalars(
                select(messages.c.text).where(messages.c.direction == "out").order_by(messages.c.id)
            )
        )


@pytest.mark.parametrize(
    ("url", "spellings"),
    [
        ("https://example.com/lena-presets", SPELLINGS),
        ("https://example.com", ["example.com", "WWW.EXAMPLE.COM/", "http://example.com/shop"]),
    ],
)
async def test_every_spelling_counts_against_the_budget(
    store: Store, url: str, spellings: list[str]
) -> None:
    persona = link_persona(url)
    clock = FakeClock()
    engine = build_engine(
        store, brain=SpellingBrain(spellings), persona=persona, config=config(), clock=clock
    )
    for i in range(8):
        decision = await engine.handle(
            text_inbound("fan", f"message {i} about travel", clock.current)
        )
        assert decision.should_send, decision
        clock.advance(minutes=1)
    matcher = LinkMatcher.for_link(url)
    carried = [text for text in sent_texts(store) if matcher.contains(text)]
    assert len(carried) == 1, carried
    with store.reading() as reads:
        report = run_audit(reads, persona, clock.current, links=matcher)
    assert report.totals[Finding.LINK_OVER_BUDGET] == 0


async def test_the_tracked_link_is_stored_as_sent_and_counts_as_the_link(store: Store) -> None:
    persona = link_persona()
    clock = FakeClock()
    base = "https://dm.example.net"
    engine = build_engine(
        store,
        brain=SpellingBrain(SPELLINGS),
        persona=persona,
        config=config(public_url=base),
        clock=clock,
    )
    for i in range(4):
        await engine.handle(text_inbound("fan", f"message {i} about travel", clock.current))
        clock.advance(minutes=1)
    texts = sent_texts(store)
    with store.reading() as reads:
        (token,) = reads.db.scalars(select(link_tokens.c.token)).all()
    carried = [text for text in texts if f"{base}/l/{token}" in text]
    assert len(carried) == 1 and "example.com/lena-presets" not in carried[0]
    matcher = LinkMatcher.for_link(str(persona.link.url), base)
    assert sum(matcher.contains(text) for text in texts) == 1


def test_the_audit_finds_links_over_budget_in_any_spelling(store: Store) -> None:
    persona = link_persona()
    with store.writing() as unit:
        ids = unit.bulk.insert_contacts(
            [
                {
                    "external_id": "spelled",
                    "created_at": T0,
                    "last_inbound_at": T0,
                    "cycle_started_at": T0,
                }
            ],
            "manychat",
        )
        rows = [
            {
                "contact_id": ids["spelled"],
                "direction": "out",
                "kind": "reply",
                "text": f"here: {spelling} enjoy",
                "created_at": T0 + timedelta(minutes=i),
            }
            for i, spelling in enumerate([*SPELLINGS, "https://dm.example.net/l/abc123"])
        ]
        unit.bulk.insert_messages(rows)
    matcher = LinkMatcher.for_link(str(persona.link.url), "https://dm.example.net")
    with store.reading() as reads:
        report = run_audit(reads, persona, T0 + timedelta(hours=1), links=matcher)
    assert report.totals[Finding.LINK_OVER_BUDGET] == len(SPELLINGS)  # 7 carried, budget 1
