"""The Claude brain through the real webhook server, the official SDK and a fake API.

Each misbehaviour of a model ends in the right decision and event; nothing is ever sent
after an error; nothing repeats; the link appears at most its budget; a minor is stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dmpilot.personas import bundled_persona_path
from fakes.anthropic_api import FakeAnthropic
from fakes.lines import ENGLISH
from support import TOKEN, Send, Server, auth, query_sqlite, webhook_sender

LINK = "https://example.com/lena-presets"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("claude")


@pytest.fixture(scope="module")
def fake(anthropic_fake: FakeAnthropic) -> FakeAnthropic:
    return anthropic_fake


@pytest.fixture(scope="module")
def server(workdir: Path, fake: FakeAnthropic) -> Iterator[Server]:
    # The example persona with longer caps, so one contact can be answered 20+ times.
    persona = yaml.safe_load(bundled_persona_path().read_text(encoding="utf-8"))
    for stage in persona["stages"]:
        stage["max_replies"] = 6
    path = workdir / "persona.yaml"
    path.write_text(yaml.safe_dump(persona, allow_unicode=True), encoding="utf-8")
    env = {
        "DMPILOT_DATABASE_URL": f"sqlite:///{workdir / 'claude.db'}",
        "DMPILOT_WEBHOOK_TOKEN": TOKEN,
        "DMPILOT_COALESCE_SECONDS": "0",
        "DMPILOT_REPLY_BUDGET_SECONDS": "3",
        "DMPILOT_PERSONA": str(path),
        "DMPILOT_LOG_LEVEL": "warning",
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": fake.url,
    }
    with Server(workdir, env) as running:
        yield running


@pytest.fixture
def send(server: Server, fake: FakeAnthropic) -> Iterator[Send]:
    fake.reset()
    with webhook_sender(server) as post:
        yield post


def query(workdir: Path, sql: str, **params: object) -> list[tuple[Any, ...]]:
    return query_sqlite(workdir / "claude.db", sql, **params)


def events_for(workdir: Path, contact: str) -> list[tuple[str, str | None]]:
    return query(
        workdir,
        "SELECT e.kind, e.reason FROM events e JOIN contacts c ON c.id = e.contact_id "
        "WHERE c.external_id = :contact ORDER BY e.id",
        contact=contact,
    )


def sent_texts(workdir: Path, contact: str) -> list[str]:
    rows = query(
        workdir,
        "SELECT m.text FROM messages m JOIN contacts c ON c.id = m.contact_id "
        "WHERE c.external_id = :contact AND m.direction = 'out' ORDER BY m.id",
        contact=contact,
    )
    return [text for (text,) in rows]


def test_claude_answers_and_cost_is_stored(send: Send, workdir: Path, fake: FakeAnthropic) -> None:
    answer = send("claude-1", "hey! love your photos")
    assert answer["should_send"] is True and answer["response"] in ENGLISH
    (usage,) = query(
        workdir,
        "SELECT m.model, m.input_tokens, m.output_tokens, m.cache_write_tokens, m.attempts "
        "FROM messages m JOIN contacts c ON c.id = m.contact_id "
        "WHERE c.external_id = 'claude-1' AND m.direction = 'out'",
    )
    assert (
        usage[0] == "claude-haiku-5-5" and usage[1] > 0
    )  # the default model and usage[2] > 0 and usage[4] == 1
    system = fake.requests[-1]["body"]["system"]
    assert system[0]["cache_control"] == {"type": "ephemeral"}


def test_twenty_answers_never_repeat(send: Send, workdir: Path) -> None:
    replies = [send("claude-20", f"message number {i}: tell me more") for i in range(22)]
    texts = [r["response"] for r in replies if r["should_send"]]
    assert len(texts) >= 20
    assert len(set(texts)) == len(texts)


def test_the_same_reply_every_time_is_sent_once(
    send: Send, workdir: Path, fake: FakeAnthropic
) -> None:
    fake.reset("same")
    answers = [send("parrot", f"hello {i}") for i in range(4)]
    assert [a["should_send"] for a in answers] == [True, False, False, False]
    assert {a["reason"] for a in answers[1:]} == {"repetition"}
    assert len(sent_texts(workdir, "parrot")) == 1


def test_near_duplicates_are_caught(send: Send, workdir: Path, fake: FakeAnthropic) -> None:
    fake.reset("near")
    answers = [send("near", f"hey {i}") for i in range(3)]
    assert [a["should_send"] for a in answers] == [True, False, False]
    assert answers[1]["reason"] == "repetition"


@pytest.mark.parametrize(("mode", "violation"), [("url", "foreign_url"), ("human", "claims_human")])
def test_invented_urls_and_human_claims_are_never_sent(
    send: Send, workdir: Path, fake: FakeAnthropic, mode: str, violation: str
) -> None:
    fake.reset(mode)
    contact = f"bad-{mode}"
    answer = send(contact, "hi there")
    assert (answer["should_send"], answer["reason"], answer["response"]) == (False, "invalid", "")
    assert sent_texts(workdir, contact) == []
    (detail,) = query(
        workdir,
        "SELECT e.detail FROM events e JOIN contacts c ON c.id = e.contact_id "
        "WHERE c.external_id = :contact AND e.reason = 'invalid'",
        contact=contact,
    )
    assert violation in detail[0]
    assert len(fake.requests) == 3  # regenerated twice with the reason, then silence


@pytest.mark.parametrize("status", [429, 500, 529])
def test_api_errors_are_silence_plus_an_event(
    send: Send, workdir: Path, fake: FakeAnthropic, status: int
) -> None:
    fake.reset(f"status:{status}")
    contact = f"err-{status}"
    answer = send(contact, "hi there")
    assert (answer["should_send"], answer["response"], answer["reason"]) == (False, "", "error")
    assert ("skipped", "error") in events_for(workdir, contact)
    assert sent_texts(workdir, contact) == []
    fake.reset()  # the model recovers: the next message is answered normally
    assert send(contact, "are you there?")["should_send"] is True


def test_a_slow_model_is_a_timeout_inside_the_budget(
    send: Send, workdir: Path, fake: FakeAnthropic
) -> None:
    fake.reset("slow")
    answer = send("slow-1", "hello")
    assert (answer["should_send"], answer["reason"]) == (False, "timeout")
    assert sent_texts(workdir, "slow-1") == []


def test_the_link_is_sent_at_most_its_budget(
    send: Send, workdir: Path, fake: FakeAnthropic
) -> None:
    fake.reset("pushy")
    answers = [send("pushy-1", f"message {i} about my trips") for i in range(32)]
    texts = sent_texts(workdir, "pushy-1")
    assert sum(LINK in text for text in texts) == 1
    assert any(a["should_stop"] and a["reason"] == "cap" for a in answers)  # ran to the end
    assert all("cheap" not in text for text in texts)


def test_a_fifteen_year_old_never_gets_anything_again(
    send: Send, workdir: Path, fake: FakeAnthropic
) -> None:
    assert send("teen-1", "hi! love your travel pics")["should_send"] is True
    said = send("teen-1", "thanks, I'm 15 btw")
    assert (said["should_send"], said["should_stop"], said["reason"], said["stage"]) == (
        False,
        True,
        "minor",
        "stopped",
    )
    calls = len(fake.requests)
    for i in range(5):
        later = send("teen-1", f"hello? {i}")
        assert later["should_send"] is False
    assert len(fake.requests) == calls  # the model is never even asked
    assert len(sent_texts(workdir, "teen-1")) == 1
    assert ("stopped", "minor") in events_for(workdir, "teen-1")


def test_bot_question_is_answered_with_the_disclosure(
    send: Send, workdir: Path, fake: FakeAnthropic
) -> None:
    answer = send("asker", "wait are you a bot??")
    assert answer["should_send"] is True and "AI" in answer["response"]
    assert fake.requests == []


def test_metrics_moved_under_the_tests_above(server: Server) -> None:
    """Runs last in this module: every path above left its trace in /metrics."""
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    text = httpx.get(f"{server.url}/metrics", headers=auth()).text

    def value(sample: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(sample + " ")]
        assert lines, f"{sample} missing from /metrics"
        return float(lines[0].rsplit(" ", 1)[1])

    assert value('dmpilot_webhooks_total{outcome="send"}') >= 20
    for outcome in ("repetition", "invalid", "error", "timeout", "minor"):
        assert value(f'dmpilot_webhooks_total{{outcome="{outcome}"}}') >= 1
    assert value("dmpilot_turn_seconds_count") >= 40
    assert value('dmpilot_brain_seconds_count{brain="anthropic"}') >= 20
    for kind in ("input", "output", "cache_read", "cache_write"):
        assert value(f'dmpilot_brain_tokens_total{{brain="anthropic",kind="{kind}"}}') > 0
    assert value('dmpilot_lease_claims_total{result="acquired"}') >= 20
    assert value('dmpilot_repetitions_blocked_total{layer="contact"}') >= 3
    assert value('dmpilot_exits_total{reason="cap"}') >= 1
    assert value('dmpilot_stops_total{reason="minor"}') == 1
    assert value('dmpilot_stops_total{reason="cap"}') >= 1
