"""The Brain protocol: one small interface every language model adapter implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dmpilot.domain.decision import MessageView
from dmpilot.domain.persona import Persona, StageSpec
from dmpilot.domain.prompt import Prompt


@dataclass(frozen=True, slots=True)
class BrainRequest:
    persona: Persona
    stage: StageSpec
    language: str
    link_allowed: bool
    prompt: Prompt
    pending: tuple[MessageView, ...]
    recent_replies: tuple[str, ...]
    contact_id: int
    contact_name: str | None
    timeout_seconds: float
    rejected: tuple[str, ...] = ()  # earlier drafts of this turn that broke a rule


@dataclass(frozen=True, slots=True)
class BrainReply:
    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def usage(self) -> dict[str, int | str]:
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


class BrainError(Exception):
    """The brain could not produce a reply. The turn stays silent; the event says why."""


class BrainExhausted(BrainError):
    """Every reply the brain could give would repeat an earlier one."""


class Brain(Protocol):
    name: str
    # False for the scripted brain: its replies come from a fixed phrase bank by design, so
    # the account-wide broadcast check (meant for model text) does not apply to it.
    checks_broadcast: bool

    async def generate(self, request: BrainRequest) -> BrainReply: ...

    async def aclose(self) -> None: ...
