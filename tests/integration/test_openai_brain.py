"""The OpenAI-compatible brain through the official SDK against a fake local model server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from dmpilot.brains import BrainError, BrainRequest
from dmpilot.brains.openai_compat import OpenAICompatibleBrain
from dmpilot.domain.decision import MessageView
from dmpilot.domain.policy import PlanKind, TurnPlan
from dmpilot.domain.prompt import build_prompt
from dmpilot.personas import load_persona
from fakes.anthropic_api import FakeServer
from fakes.openai_api import FakeOpenAI

PERSONA = load_persona()
NOW = datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOpenAI, str]]:
    api = FakeOpenAI()
    with FakeServer(api.app()) as server:
        yield api, f"{server.url}/v1"


def request() -> BrainRequest:
    pending = (MessageView(1, "in", "text", "hello!", NOW),)
    plan = TurnPlan(PlanKind.REPLY, "cold", "en")
    return BrainRequest(
        persona=PERSONA,
        plan=plan,
        prompt=build_prompt(PERSONA, plan, pending, pending),
        pending=pending,
        recent_replies=(),
        contact_id=1,
        contact_name=None,
        timeout_seconds=5,
    )


async def test_chat_completion_shape_and_usage(served: tuple[FakeOpenAI, str]) -> None:
    api, url = served
    brain = OpenAICompatibleBrain("llama3.2", base_url=url, api_key="local")
    reply = await brain.generate(request())
    assert reply.text == "what do you like to photograph?"
    assert (reply.model, reply.input_tokens, reply.output_tokens) == ("llama3.2", 42, 9)
    body = api.requests[-1]["body"]
    assert body["model"] == "llama3.2"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "You are Lena" in body["messages"][0]["content"]
    assert body["messages"][1]["content"] == "hello!"
    await brain.aclose()


async def test_server_errors_become_brain_errors(served: tuple[FakeOpenAI, str]) -> None:
    api, url = served
    api.replies.extend([500, 500])
    brain = OpenAICompatibleBrain("llama3.2", base_url=url, api_key="local")
    with pytest.raises(BrainError, match="500"):
        await brain.generate(request())
    api.replies.append("")
    with pytest.raises(BrainError, match="no text"):
        await brain.generate(request())
