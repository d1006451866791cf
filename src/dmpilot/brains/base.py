"""The Brain protocol: one small interface every language model adapter implements."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from dmpilot.domain.decision import MessageView
from dmpilot.domain.persona import Persona
from dmpilot.domain.policy import TurnPlan
from dmpilot.domain.prompt import Prompt, Purpose


@dataclass(frozen=True, slots=True)
class BrainRequest:
    persona: Persona
    plan: TurnPlan
    prompt: Prompt
    pending: tuple[MessageView, ...]
    recent_replies: tuple[str, ...]
    contact_id: int
    contact_name: str | None
    timeout_seconds: float
    purpose: Purpose = Purpose.REPLY
    link_allowed: bool = False  # may change between drafts (over budget: asked without it)
    rejected: tuple[str, ...] = ()  # earlier drafts of this turn that broke a rule

    @property
    def language(self) -> str:
        return self.plan.language

    @property
    def stage(self) -> str:
        return self.plan.stage


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


class ProbeStatus(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # the endpoint answered and refused us (key, model): fatal
    UNREACHABLE = "unreachable"  # could not reach it: it may come back


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: ProbeStatus
    detail: str = ""

    @classmethod
    def ok(cls) -> ProbeResult:
        return cls(ProbeStatus.OK)


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

    async def probe(self, timeout_seconds: float) -> ProbeResult:
        """A cheap authenticated call: are the key and the model usable?"""
        ...

    async def aclose(self) -> None: ...
