"""Any OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp) through the official SDK."""

from __future__ import annotations

import openai
from openai.types.chat import ChatCompletionMessageParam

from dmpilot.brains.base import BrainError, BrainReply, BrainRequest, ProbeResult, ProbeStatus


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
                    *(_message(role, text) for role, text in prompt.transcript),
                ],
                timeout=request.timeout_seconds,
            )
        except openai.OpenAIError as exc:
            raise BrainError(f"{type(exc).__name__}: {exc}") from exc
        content = (response.choices[0].message.content or "") if response.choices else ""
        if not content.strip():
            raise BrainError("the model returned no text")
        usage = response.usage
        return BrainReply(
            text=content.strip(),
            model=response.model or self.model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    async def probe(self, timeout_seconds: float) -> ProbeResult:
        """Lists the models: proves the endpoint and the key; checks the model is served."""
        try:
            page = await self.client.models.list(timeout=timeout_seconds)
        except openai.AuthenticationError as exc:
            return ProbeResult(
                ProbeStatus.REFUSED,
                f"the server refused the API key ({exc.status_code}): check OPENAI_API_KEY",
            )
        except openai.APIStatusError as exc:
            return ProbeResult(ProbeStatus.UNREACHABLE, f"the server answered {exc.status_code}")
        except openai.APIError as exc:
            return ProbeResult(ProbeStatus.UNREACHABLE, f"{type(exc).__name__}: {exc}")
        served = [model.id for model in page.data]
        if served and self.model not in served:
            return ProbeResult(
                ProbeStatus.REFUSED,
                f"the server does not serve {self.model!r} (it serves: {', '.join(served[:8])}); "
                "check DMPILOT_MODEL",
            )
        return ProbeResult.ok()

    async def aclose(self) -> None:
        await self.client.close()


def _message(role: str, text: str) -> ChatCompletionMessageParam:
    if role == "assistant":
        return {"role": "assistant", "content": text}
    return {"role": "user", "content": text}
