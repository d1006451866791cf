"""What dmpilot knows about the models it can use: prices, and the shortest prompt prefix
each one caches. Unknown models fall back to the settings (DMPILOT_PRICE_*)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelFacts:
    input_per_mtok: float  # US$ per million input tokens
    output_per_mtok: float
    cache_read_per_mtok: float
    cache_write_per_mtok: float
    # The shortest prefix the model caches; shorter ones are silently not cached. None:
    # not published — the prefix is always marked, and `stats` shows what was read.
    min_cache_tokens: int | None
    chars_per_token: float  # for estimating a prefix's length before sending it


MODELS: dict[str, ModelFacts] = {
    # Anthropic's price list; cache writes cost 1.25x input, reads 0.1x.
    "claude-haiku-4-5": ModelFacts(1.00, 5.00, 0.10, 1.25, 4096, 3.8),
    # Released 2026-10-07; its tokenizer gives ~30 % more tokens for the same text.
    "claude-haiku-5-5": ModelFacts(0.10, 0.50, 0.01, 0.125, None, 2.9),
}
DEFAULT_MODEL = "claude-haiku-5-5"


def facts_for(model: str) -> ModelFacts | None:
    """The model's facts; dated names (claude-haiku-4-5-20251001) match their family."""
    for name, facts in MODELS.items():
        if model == name or model.startswith(f"{name}-"):
            return facts
    return None


def estimated_tokens(text: str, model: str) -> int:
    facts = facts_for(model)
    return int(len(text) / (facts.chars_per_token if facts else 3.5))
