"""The Anthropic brain through the official SDK against a fake Messages API on loopback."""

from __future__ import annotations

from datetime import datetime

import pytest

from dmpilot.brains import BrainError, BrainRequest
from dmpilot.brains.anthropic import AnthropicBrain
from dmpilot.domain.decision import MessageView
from dmpilot.domain.policy import PlanKind, TurnPlan
from dmpilot.domain.prompt import build_prompt
from dmpilot.personas import load_persona
from fakes.anthropic_api import Behaviour, FakeAnthropic

PERSONA = load_persona()
NOW = datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def fake(anthropic_fake: FakeAnthropic) -> FakeAnthropic:
    return anthropic_fake


@pytest.fixture
def brain(fake: FakeAnthropic) -> AnthropicBrain:
    fake.reset()
    return AnthropicBrain("claude-haiku-4-5", api_key="sk-test", base_url=fake.url, max_retries=1)


def request(language: str = "en", timeout: float = 5.0) -> BrainRequest:
    history = (
        MessageView(1, "in", "text", "hi!", NOW),
        MessageView(2, "out", "reply", "hey, where are you writing from?", NOW),
        MessageView(3, "in", "text", "from lyon", NOW),
    )
    pending = (
        MessageView(3, "in", "text", "from lyon", NOW),
        MessageView(4, "in", "voice", "", NOW),
    )
    plan = TurnPlan(PlanKind.REPLY, "warm", language)
    return BrainRequest(
        persona=PERSONA,
        plan=plan,
        prompt=build_prompt(
            PERSONA,
            plan,
            history,
            pending,
            recent_replies=("hey, where are you writing from?",),
        ),
        pending=pending,
        recent_replies=("hey, where are you writing from?",),
        contact_id=1,
        contact_name="Sam",
        timeout_seconds=timeout,
    )


async def test_request_shape_and_usage(brain: AnthropicBrain, fake: FakeAnthropic) -> None:
    reply = await brain.generate(request())
    assert reply.text and reply.model == "claude-haiku-4-5"
    sent = fake.requests[-1]
    headers = sent["headers"]
    # SDK 2.x sends the key as a bearer token; older SDKs used x-api-key.
    assert "sk-test" in (
        headers.get("x-api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    )
    assert headers["anthropic-version"]
    body = sent["body"]
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == 200
    persona, turn = body["system"]
    # Haiku 4.5 caches nothing under 4,096 tokens: a shorter prefix is not marked.
    assert "cache_control" not in persona and "Lena" in persona["text"]
    assert "cache_control" not in turn and "Stage: warm" in turn["text"]
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    last = body["messages"][-1]["content"]
    assert last == "from lyon\n[sent a voice message]"  # every message exactly once
    assert reply.input_tokens > 0 and reply.output_tokens > 0


async def test_prompt_cache_tokens_are_reported(fake: FakeAnthropic) -> None:
    # Haiku 5.5 publishes no minimum: the stable prefix is always marked for caching.
    brain = AnthropicBrain("claude-haiku-5-5", api_key="sk-test", base_url=fake.url)
    try:
        first = await brain.generate(request())
        second = await brain.generate(request())
    finally:
        await brain.aclose()
    assert fake.requests[-1]["body"]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first.cache_write_tokens > 0 or first.cache_read_tokens > 0
    assert second.cache_read_tokens > 0 and second.cache_write_tokens == 0


async def test_a_prefix_long_enough_is_marked_for_caching(fake: FakeAnthropic) -> None:
    brain = AnthropicBrain(
        "claude-haiku-4-5", api_key="sk-test", base_url=fake.url, cache_min_tokens=100
    )
    try:
        await brain.generate(request())
    finally:
        await brain.aclose()
    assert fake.requests[-1]["body"]["system"][0]["cache_control"] == {"type": "ephemeral"}


async def test_haiku_5_5_requests_carry_no_sampling_parameters_or_prefill(
    fake: FakeAnthropic,
) -> None:
    brain = AnthropicBrain("claude-haiku-5-5", api_key="sk-test", base_url=fake.url)
    try:
        reply = await brain.generate(request())  # the fake refuses what 5.5 dropped
    finally:
        await brain.aclose()
    body = fake.requests[-1]["body"]
    assert reply.text and not {"temperature", "top_p", "top_k"} & set(body)
    assert body["messages"][-1]["role"] == "user"


@pytest.mark.parametrize("status", [429, 500, 529])
async def test_api_errors_become_brain_errors_after_one_retry(
    brain: AnthropicBrain, fake: FakeAnthropic, status: int
) -> None:
    fake.queue(Behaviour(status=status), Behaviour(status=status))
    with pytest.raises(BrainError, match=str(status)):
        await brain.generate(request())
    assert len(fake.requests) == 2  # max_retries=1: the SDK tried twice, no more


async def test_a_retry_that_succeeds_is_a_reply(brain: AnthropicBrain, fake: FakeAnthropic) -> None:
    fake.queue(Behaviour(status=529), Behaviour(text="what was the best meal you had on the road?"))
    reply = await brain.generate(request())
    assert reply.text == "what was the best meal you had on the road?"


async def test_the_call_times_out_within_the_budget(
    brain: AnthropicBrain, fake: FakeAnthropic
) -> None:
    fake.queue(Behaviour(text="late", delay=5), Behaviour(text="late", delay=5))
    with pytest.raises(BrainError, match="Timeout"):
        await brain.generate(request(timeout=0.3))


async def test_an_empty_answer_is_an_error(brain: AnthropicBrain, fake: FakeAnthropic) -> None:
    fake.queue(Behaviour(text=""))
    with pytest.raises(BrainError, match="no text"):
        await brain.generate(request())
