"""Any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp) through the official SDK."""

from __future__ import annotations

import openai

from dmpilot.brains.base import BrainError, BrainReply, BrainRequest


class OpenAICompatibleBrain:
    name = "openai"
    checks_broadcast = True

    def __init__(
        self, model: str, base_url: str | None, api_key: str, max_tokens: int = 200
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=1)

    async def generate(self, request: BrainRequest) -> BrainReply:
        prompt = request.prompt
        if not prompt.transcript:
            raise BrainError("nothing to answer: the transcript is empty")
        system = f"{prompt.persona_block}\n\n{prompt.turn_block}"
        try:
            response = await self.client.chat.completions.create(
                model=self.model,
                max_tokens=self.max_tokens,
                messages=[
                    {"role": "system", "content": system},
                    *({"role": role, "content": text} for role, text in prompt.transcript),
                ],
                timeout=request.timeout_seconds,
            )
        except openai.OpenAIError as exc:
            raise BrainError(f"{type(exc).__name__}: {exc}") from exc
        if not response.choices or not (response.choices[0].message.content or "").strip():
            raise BrainError("the model returned no text")
        usage = response.usage
        return BrainReply(
            text=response.choices[0].message.content.strip(),
            model=response.model or self.model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    async def aclose(self) -> None:
        await self.client.close()
