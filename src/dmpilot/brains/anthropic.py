"""Claude through the official SDK, with the persona as a cached system prompt."""

from __future__ import annotations

import anthropic
from anthropic.types import MessageParam, TextBlock, TextBlockParam

from dmpilot.brains.base import BrainError, BrainReply, BrainRequest, ProbeResult, ProbeStatus
from dmpilot.brains.models import estimated_tokens, facts_for


class AnthropicBrain:
    name = "anthropic"
    checks_broadcast = True

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        max_tokens: int = 200,
        max_retries: int = 1,
        cache_min_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        facts = facts_for(model)
        # The stable prefix is marked for caching only when the model would cache it.
        self.cache_min_tokens = (
            cache_min_tokens
            if cache_min_tokens is not None
            else (facts.min_cache_tokens if facts else None)
        )
        # Retries must fit in the reply budget: the per-call timeout is set on each request.
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries
        )

    async def generate(self, request: BrainRequest) -> BrainReply:
        prompt = request.prompt
        if not prompt.transcript:
            raise BrainError("nothing to answer: the transcript is empty")
        try:
            response = await self.client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                system=[
                    self._prefix(prompt.persona_block),
                    {"type": "text", "text": prompt.turn_block},
                ],
                messages=[_message(role, text) for role, text in prompt.transcript],
                timeout=request.timeout_seconds,
            )
        except anthropic.APIError as exc:
            raise BrainError(f"{type(exc).__name__}: {exc}") from exc
        text = "".join(
            block.text for block in response.content if isinstance(block, TextBlock)
        ).strip()
        if not text:
            raise BrainError(f"the model returned no text (stop_reason={response.stop_reason})")
        usage = response.usage
        return BrainReply(
            text=text,
            model=response.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_tokens=usage.cache_creation_input_tokens or 0,
        )

    def _prefix(self, block: str) -> TextBlockParam:
        if self.cache_min_tokens is None or (
            estimated_tokens(block, self.model) >= self.cache_min_tokens
        ):
            return {"type": "text", "text": block, "cache_control": {"type": "ephemeral"}}
        return {"type": "text", "text": block}

    async def probe(self, timeout_seconds: float) -> ProbeResult:
        """Looks the model up: proves the key and the model name in one cheap call."""
        try:
            await self.client.models.retrieve(self.model, timeout=timeout_seconds)
        except anthropic.AuthenticationError as exc:
            return ProbeResult(
                ProbeStatus.REFUSED,
                f"Anthropic refused the API key ({exc.status_code}): check ANTHROPIC_API_KEY",
            )
        except anthropic.PermissionDeniedError as exc:
            return ProbeResult(
                ProbeStatus.REFUSED,
                f"the API key may not use {self.model!r} ({exc.status_code})",
            )
        except anthropic.NotFoundError:
            return ProbeResult(
                ProbeStatus.REFUSED,
                f"Anthropic does not know the model {self.model!r}: check DMPILOT_MODEL",
            )
        except anthropic.APIStatusError as exc:
            return ProbeResult(
                ProbeStatus.UNREACHABLE, f"Anthropic answered {exc.status_code} to a model lookup"
            )
        except anthropic.APIError as exc:  # connection errors and timeouts
            return ProbeResult(ProbeStatus.UNREACHABLE, f"{type(exc).__name__}: {exc}")
        return ProbeResult.ok()

    async def aclose(self) -> None:
        await self.client.close()


def _message(role: str, text: str) -> MessageParam:
    if role == "assistant":
        return {"role": "assistant", "content": text}
    return {"role": "user", "content": text}
