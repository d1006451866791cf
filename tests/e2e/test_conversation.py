"""Conversations that convert, through the real server, the official Anthropic SDK and a
fake Messages API that follows the turn's instructions like a good model would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dmpilot.domain.links import LinkMatcher
from dmpilot.personas import bundled_persona_path
from fakes.anthropic_api import Behaviour, FakeAnthropic
from fakes.lines import GOODBYES
from support import TOKEN, Send, Server, auth, query_sqlite, webhook_sender

LINK = "https://example.com/lena-presets"
LINKS = LinkMatcher.for_link(LINK)


def _env(workdir: Path, fake: FakeAnthropic, persona: Path | None = None) -> dict[str, str]:
    env = {
        "DMPILOT_DATABASE_URL": f"sqlite:///{workdir / 'talk.db'}",
        "DMPILOT_WEBHOOK_TOKEN": TOKEN,
        "DMPILOT_COALESCE_SECONDS": "0",
        "DMPILOT_REPLY_BUDGET_SECONDS": "5",
        "DMPILOT_LOG_LEVEL": "warning",
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": fake.url,
        "DMPILOT_MODEL": "claude-haiku-5-5",
        # The fake repeats its lines across contacts; the broadcast check has its own test.
        "DMPILOT_BROADCAST_CONTACTS": "100",
    }
    if persona is not None:
        env["DMPILOT_PERSONA"] = str(persona)
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("talk")


@pytest.fixture(scope="module")
def server(workdir: Path, anthropic_fake: FakeAnthropic) -> Iterator[Server]:
    with Server(workdir, _env(workdir, anthropic_fake)) as running:
        yield running


@pytest.fixture
def send(server: Server, anthropic_fake: FakeAnthropic) -> Iterator[Send]:
    anthropic_fake.reset("compliant")
    with webhook_sender(server, name="Sam Doe") as post:
        yield post


def query(workdir: Path, sql: str, **params: object) -> list[tuple[Any, ...]]:
    return query_sqlite(workdir / "talk.db", sql, **params)


def replies(workdir: Path, contact: str) -> list[str]:
    rows = query(
        workdir,
        "SELECT m.text FROM messages m JOIN contacts c ON c.id = m.contact_id "
        "WHERE c.external_id = :contact AND m.direction = 'out' ORDER BY m.id",
        contact=contact,
    )
    return [text for (text,) in rows]


def system_blocks(fake: FakeAnthropic) -> list[list[str]]:
    return [[block["text"] for block in r["body"]["system"]] for r in fake.requests]


TALK = [
    "hey! love your photos",
    "where can I buy your presets?",
    "nice, thanks! I'm from Lyon by the way",
    "mostly my phone honestly",
    "last trip was Portugal, so good",
    "mountains for sure",
    "I edit a little in Lightroom",
    "the light in your feed is amazing",
    "how do you get those colours?",
    "ooh that sounds useful",
    "thanks for the chat!",
    "have a nice day",
]


def test_asking_early_gets_the_link_once_at_the_ask_and_the_funnel_ends(
    send: Send, workdir: Path
) -> None:
    answers = [send("conv-1", text) for text in TALK]
    assert all(a["should_send"] for a in answers[:11]), answers
    assert LINKS.contains(answers[1]["response"])  # asked at message 2: answered with it
    sent = replies(workdir, "conv-1")
    assert sum(LINKS.contains(text) for text in sent) == 1  # and never again
    assert answers[10]["should_stop"] is True and answers[10]["reason"] == "cap"
    assert answers[11]["should_send"] is False and answers[11]["reason"] == "stopped"
    intents = query(
        workdir,
        "SELECT e.reason, e.detail FROM events e JOIN contacts c ON c.id = e.contact_id "
        "WHERE c.external_id = 'conv-1' AND e.kind = 'intent'",
    )
    assert intents and intents[0][0] == "asks_link" and "link_required" in str(intents[0][1])


def test_an_unused_budget_makes_the_last_link_stage_reply_carry_it(
    send: Send, workdir: Path
) -> None:
    answers = [send("conv-2", f"{text}!") for text in [*TALK[2:], "ok", "see you"]][:10]
    assert all(a["should_send"] for a in answers)
    assert not any(LINKS.contains(a["response"]) for a in answers[:9])
    assert LINKS.contains(answers[9]["response"])  # the 10th reply: the last in a link stage


def test_a_stated_fact_is_remembered_and_never_asked_again(
    send: Send, workdir: Path, anthropic_fake: FakeAnthropic
) -> None:
    send("conv-3", "hi! I'm from Lyon")
    for i in range(6):
        send("conv-3", f"message number {i} about my trips")
    anthropic_fake.queue(Behaviour("so where are you from?"))  # a model that forgot
    answer = send("conv-3", "what do you shoot with?")
    assert answer["should_send"] and answer["response"] != "so where are you from?"
    last = system_blocks(anthropic_fake)[-2]  # the request that got the re-ask
    assert "Lyon" in last[1] and "never ask for it again" in last[1]
    (detail,) = query(
        workdir,
        "SELECT e.detail FROM events e JOIN contacts c ON c.id = e.contact_id "
        "WHERE c.external_id = 'conv-3' AND e.kind = 'sent' ORDER BY e.id DESC LIMIT 1",
    )[0]
    assert "already_known" in str(detail)


def test_the_prompt_prefix_is_byte_identical_across_contacts_and_stages(
    send: Send, anthropic_fake: FakeAnthropic
) -> None:
    send("conv-4", "hey there")
    for i in range(5):
        send("conv-5", f"hello again, message {i}")
    blocks = system_blocks(anthropic_fake)
    first, late = blocks[0], blocks[-1]
    assert first[0] == late[0]  # persona, rules, examples: the cacheable prefix
    assert "reply 1 of 3" in first[1] and "Stage: warm" in late[1]
    assert all(
        request["body"]["system"][0].get("cache_control") for request in anthropic_fake.requests
    )
    assert all("temperature" not in r["body"] for r in anthropic_fake.requests)


def test_a_customer_is_helped_never_pitched(
    send: Send, server: Server, anthropic_fake: FakeAnthropic, workdir: Path
) -> None:
    send("conv-6", "hey! love your photos")
    converted = httpx.post(
        f"{server.url}/admin/contacts/converted",
        json={"subscriber_id": "conv-6"},
        headers=auth(),
        timeout=10,
    )
    assert converted.status_code == 200
    anthropic_fake.queue(Behaviour(f"glad you bought them! more here: {LINK}"))  # pushy
    answer = send("conv-6", "just bought them! how do I install them on my phone?")
    assert answer["should_send"] is True and answer["stage"] == "customer"
    assert not LINKS.contains(answer["response"])
    assert all(not LINKS.contains(text) for text in replies(workdir, "conv-6"))


@pytest.fixture(scope="module")
def short_funnel(workdir: Path, anthropic_fake: FakeAnthropic) -> Iterator[Server]:
    """The example persona with one reply per stage, so contacts reach the goodbye fast."""
    persona = yaml.safe_load(bundled_persona_path().read_text(encoding="utf-8"))
    for stage in persona["stages"]:
        stage["max_replies"] = 1
    path = workdir / "short.yaml"
    path.write_text(yaml.safe_dump(persona, allow_unicode=True), encoding="utf-8")
    env = _env(workdir, anthropic_fake, path)
    env["DMPILOT_DATABASE_URL"] = f"sqlite:///{workdir / 'short.db'}"
    env["DMPILOT_BROADCAST_CONTACTS"] = "2"  # the goodbye below is a broadcast at the 3rd
    with Server(workdir, env) as running:
        yield running


def test_an_exit_already_sent_to_others_is_written_again(
    short_funnel: Server, anthropic_fake: FakeAnthropic, workdir: Path
) -> None:
    anthropic_fake.reset("compliant")
    goodbyes: list[str] = []
    with httpx.Client(base_url=short_funnel.url, headers=auth(), timeout=30) as client:
        for contact in ("bye-1", "bye-2", "bye-3"):
            for i in range(5):
                if i == 4:  # every exit's first draft is the same goodbye
                    anthropic_fake.queue(Behaviour(GOODBYES[0]))
                answer = client.post(
                    "/webhooks/manychat",
                    json={"subscriber": {"id": contact}, "last_input_text": f"hi {i} from me"},
                ).json()
            assert answer["should_stop"] is True
            goodbyes.append(answer["response"])
    assert goodbyes[:2] == [GOODBYES[0], GOODBYES[0]]
    assert goodbyes[2] != GOODBYES[0] and goodbyes[2]  # a broadcast: written anew
