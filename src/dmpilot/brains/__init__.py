"""Language model adapters behind one protocol (see base.py)."""

from __future__ import annotations

from dmpilot.brains.base import (
    Brain,
    BrainError,
    BrainExhausted,
    BrainReply,
    BrainRequest,
    ProbeResult,
    ProbeStatus,
)
from dmpilot.brains.scripted import ScriptedBrain
from dmpilot.settings import Settings


def build_brain(settings: Settings) -> Brain:
    kind = settings.brain_kind
    if kind == "scripted":
        return ScriptedBrain(seed=settings.seed)
    if kind == "anthropic":
        from dmpilot.brains.anthropic import AnthropicBrain

        key = settings.anthropic_api_key
        return AnthropicBrain(
            model=settings.model,
            api_key=key.get_secret_value() if key else None,
            base_url=settings.anthropic_base_url,
            max_tokens=settings.max_tokens,
            cache_min_tokens=settings.cache_min_tokens,
        )
    from dmpilot.brains.openai_compat import OpenAICompatibleBrain

    key = settings.openai_api_key
    return OpenAICompatibleBrain(
        model=settings.model,
        base_url=settings.openai_base_url,
        api_key=key.get_secret_value() if key else "not-needed",
        max_tokens=settings.max_tokens,
    )


__all__ = [
    "Brain",
    "BrainError",
    "BrainExhausted",
    "BrainReply",
    "BrainRequest",
    "ProbeResult",
    "ProbeStatus",
    "ScriptedBrain",
    "build_brain",
]
