"""Claude through the official SDK, with the persona as a cached system prompt."""

from __future__ import annotations

import anthropic

from dmpilot.brains.base import BrainError, BrainReply, BrainRequest


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
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
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
                    {
                        "type": "text",
                        "text": prompt.persona_block,
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "text", "text": prompt.turn_block},
                ],
                messages=[{"role": role, "content": text} for role, text in prompt.transcript],
                timeout=request.timeout_seconds,
            )
        except anthropic.APIError as exc:
            raise BrainError(f"{type(exc).__name__}: {exc}") from exc
        text = "".join(
            block.text for block in response.content if getattr(block, "type", "") == "text"
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

    async def aclose(self) -> None:
        await self.client.close()
