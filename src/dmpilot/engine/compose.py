"""Composing a reply: generate, check every rule, regenerate with the reasons, or give up.

At most `max_attempts` drafts inside the turn's remaining budget. A draft is sent only if
the validator finds nothing and, for model brains, it is not a broadcast (the same text
already sent to several other contacts within the window).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dmpilot import metrics
from dmpilot.brains.base import Brain, BrainError, BrainExhausted, BrainReply, BrainRequest
from dmpilot.domain.decision import ContactState, Reason
from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.memory import FactKind, describe_known
from dmpilot.domain.persona import Persona
from dmpilot.domain.policy import TurnPlan
from dmpilot.domain.ports import Clock
from dmpilot.domain.prompt import Purpose, build_prompt, instructions, persona_block
from dmpilot.domain.repetition import similar_contacts
from dmpilot.domain.validator import ReplyContext, Violation, validate
from dmpilot.engine.config import EngineConfig

RecentOutbound = Callable[[datetime, int], Awaitable[list[tuple[int, str]]]]
_KINDS = {kind.value for kind in FactKind}


@dataclass(slots=True)
class Composition:
    """A reply to send, or the reason there is none; usage covers every attempt."""

    text: str | None = None
    reason: Reason | None = None
    rejected: list[str] = field(default_factory=list)
    # Every rejected draft's violation codes, in order: what the model kept getting wrong.
    draft_violations: list[list[str]] = field(default_factory=list)
    error: str | None = None
    model: str | None = None
    attempts: int = 0
    brain_ms: int = 0
    tokens: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"), 0
        )
    )

    def add(self, reply: BrainReply, elapsed_ms: int) -> None:
        self.model = reply.model
        self.brain_ms += elapsed_ms
        self.tokens["input_tokens"] += reply.input_tokens
        self.tokens["output_tokens"] += reply.output_tokens
        self.tokens["cache_read_tokens"] += reply.cache_read_tokens
        self.tokens["cache_write_tokens"] += reply.cache_write_tokens

    def usage(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "brain_ms": self.brain_ms,
            "attempts": self.attempts,
            **self.tokens,
        }

    @property
    def violations(self) -> list[str]:
        """The last rejected draft's codes."""
        return self.draft_violations[-1] if self.draft_violations else []

    def detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = self.usage()
        if self.violations:
            detail["violations"] = self.violations
        if self.rejected:
            detail["rejected"] = self.rejected[-3:]
        if self.draft_violations:
            detail["draft_violations"] = self.draft_violations
        if self.error:
            detail["error"] = self.error
        return detail


def _observe_brain(brain: str, seconds: float, reply: BrainReply) -> None:
    metrics.BRAIN_SECONDS.labels(brain=brain).observe(seconds)
    for kind, tokens in (
        ("input", reply.input_tokens),
        ("output", reply.output_tokens),
        ("cache_read", reply.cache_read_tokens),
        ("cache_write", reply.cache_write_tokens),
    ):
        if tokens:
            metrics.BRAIN_TOKENS.labels(brain=brain, kind=kind).inc(tokens)


def _reason_for(violations: list[Violation]) -> Reason:
    codes = {v.code for v in violations}
    if "broadcast" in codes:
        return Reason.BROADCAST
    if codes == {"repetition"}:
        return Reason.REPETITION
    return Reason.INVALID


class Composer:
    def __init__(
        self,
        brain: Brain,
        persona: Persona,
        config: EngineConfig,
        *,
        clock: Clock,
        links: LinkMatcher,
        recent_outbound: RecentOutbound,
    ) -> None:
        self.brain = brain
        self.persona = persona
        self.config = config
        self.clock = clock
        self.links = links
        self.recent_outbound = recent_outbound
        # Built once: byte-identical for every turn of every contact (the cached prefix).
        self.block = persona_block(persona)
        self.instructions = instructions(persona)

    async def compose(
        self,
        plan: TurnPlan,
        state: ContactState,
        deadline: float,
        purpose: Purpose = Purpose.REPLY,
    ) -> Composition:
        result = Composition()
        link_allowed, link_required = plan.link_allowed, plan.link_required
        known = describe_known(
            {FactKind(kind): value for kind, value in state.known.items() if kind in _KINDS}
        )
        feedback: tuple[str, ...] = ()
        violations: list[Violation] = []
        while result.attempts < self.config.max_attempts:
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                result.reason = Reason.TIMEOUT
                return result
            current = replace(plan, link_allowed=link_allowed, link_required=link_required)
            prompt = build_prompt(
                self.persona,
                current,
                state.history,
                state.pending,
                purpose=purpose,
                contact_name=state.name,
                known=tuple(known),
                recent_replies=state.recent_replies,
                feedback=feedback,
                block=self.block,
            )
            request = BrainRequest(
                persona=self.persona,
                plan=current,
                prompt=prompt,
                pending=state.pending,
                recent_replies=state.recent_replies,
                contact_id=state.contact_id,
                contact_name=state.name,
                timeout_seconds=remaining,
                purpose=purpose,
                link_allowed=link_allowed,
                rejected=tuple(result.rejected),
            )
            result.attempts += 1
            started = self.clock.monotonic()
            try:
                reply = await asyncio.wait_for(self.brain.generate(request), timeout=remaining)
            except TimeoutError:
                result.reason = Reason.TIMEOUT
                return result
            except BrainExhausted as exc:
                result.reason, result.error = Reason.REPETITION, str(exc)
                return result
            except BrainError as exc:
                result.reason, result.error = Reason.ERROR, str(exc)
                return result
            elapsed = self.clock.monotonic() - started
            result.add(reply, int(elapsed * 1000))
            _observe_brain(self.brain.name, elapsed, reply)

            context = ReplyContext(
                persona=self.persona,
                language=plan.language,
                link_allowed=link_allowed,
                recent_replies=state.recent_replies,
                # The directions only: facts, examples and the do-not-repeat list may be
                # echoed, the rules may not.
                system_prompt=self.instructions,
                similarity_threshold=self.config.similarity_threshold,
                leak_threshold=self.config.leak_threshold,
                links=self.links,
                link_required=link_required,
                known=frozenset(state.known),
            )
            violations = validate(reply.text, context)
            if not violations and self.brain.checks_broadcast:
                violations = await self._broadcast(reply.text, state.contact_id)
            if not violations:
                result.text = reply.text
                return result
            result.draft_violations.append([v.code for v in violations])
            for code, layer in (("repetition", "contact"), ("broadcast", "account")):
                if code in result.violations:
                    metrics.REPETITIONS_BLOCKED.labels(layer=layer).inc()
            result.rejected.append(reply.text)
            feedback = tuple(dict.fromkeys(v.message for v in violations))
            if any(v.code == "link_budget" for v in violations):
                link_allowed = link_required = False  # regenerate without the link
        result.reason = _reason_for(violations)
        return result

    async def broadcast_lines(self, texts: Sequence[str], contact_id: int) -> set[int]:
        """Which of `texts` were already sent to several other contacts lately (exit lines)."""
        if not self.brain.checks_broadcast:
            return set()
        return {i for i, text in enumerate(texts) if await self._broadcast(text, contact_id)}

    async def _broadcast(self, text: str, contact_id: int) -> list[Violation]:
        since = self.clock.now() - self.config.broadcast_window
        others = await self.recent_outbound(since, contact_id)
        matches = similar_contacts(text, others, self.config.similarity_threshold)
        if len(matches) >= self.config.broadcast_contacts:
            return [
                Violation(
                    "broadcast",
                    "this reply was already sent to other people; write something personal",
                )
            ]
        return []
