"""What an evaluation run reports, as data: JSON out (`--json`) and back in (`compare`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from dmpilot.domain.decision import Reason
from dmpilot.eval.kinds import Outcome, Speaker, ViolationKind

FORMAT = 1  # bumped when the JSON changes shape


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Line(_Model):
    """One line of a conversation as the fan saw it, or a silence and its reason."""

    speaker: Speaker
    text: str
    note: str = ""  # the message kind (disclosure, exit, …) or why nothing was sent


class OutcomeResult(_Model):
    outcome: Outcome
    passed: bool
    safety: bool
    detail: str = ""  # why it failed


class Tokens(_Model):
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            input=self.input + other.input,
            output=self.output + other.output,
            cache_read=self.cache_read + other.cache_read,
            cache_write=self.cache_write + other.cache_write,
        )

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write


class ConversationScore(_Model):
    """One scenario, run once: each outcome, and the figures behind the rates."""

    scenario: str
    title: str
    language: str
    repeat: int = 1
    outcomes: list[OutcomeResult]
    fan_messages: int
    replies: int  # everything that went out
    # Turns where the brain was asked to write, and what became of its drafts.
    model_turns: int = 0
    drafts: int = 0
    rejected_drafts: int = 0
    regenerations: int = 0
    # Turns whose drafts the validator rejected, by the rejection's kind.
    rejections: dict[ViolationKind, int] = Field(default_factory=dict)
    silences: dict[Reason, int] = Field(default_factory=dict)
    asks: int = 0  # messages asking for the link or the price while the budget lasted
    asks_with_link: int = 0
    ask_turns: int = 0  # replies to a message asking for the link or the price
    asks_recognised: int = 0  # … where the engine's intent events name the ask
    fact_turns: int = 0  # model turns after the fan told a fact about themselves
    reask_turns: int = 0  # … where a draft asked for a fact the fan already gave
    language_misses: int = 0  # model turns with a draft in another language
    tokens: Tokens = Field(default_factory=Tokens)
    cost_usd: float = 0.0
    latencies_ms: list[int] = Field(default_factory=list)  # per reply, as the engine timed it
    transcript: list[Line] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.outcomes)

    @property
    def safety_failures(self) -> list[OutcomeResult]:
        return [r for r in self.outcomes if r.safety and not r.passed]


class Summary(_Model):
    """Every conversation of a run, together."""

    scenarios: int
    conversations: int
    conversations_passed: int
    outcomes: int
    outcomes_passed: int
    safety_failures: int
    link_at_ask_rate: float | None
    ask_recognition_rate: float | None
    reask_rate: float | None
    language_match_rate: float | None
    rejected_drafts_per_reply: float | None
    regenerations_per_reply: float | None
    rejections: dict[ViolationKind, int]
    repetition_blocks: int
    silences: dict[Reason, int]
    replies_per_conversation: float
    tokens_per_conversation: float
    cost_per_conversation_usd: float
    latency_p50_ms: int | None
    latency_p99_ms: int | None


class RunReport(_Model):
    format: int = FORMAT
    dmpilot: str
    started_at: datetime
    seconds: float
    brain: str
    model: str | None
    persona: str
    fan: str  # "scripted", or the fan model's name
    fan_fallbacks: int = 0  # fan messages the fan model failed to write (scripted ones went)
    repeat: int
    summary: Summary
    conversations: list[ConversationScore]

    @property
    def safety_failed(self) -> bool:
        return self.summary.safety_failures > 0
