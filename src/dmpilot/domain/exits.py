"""Choosing the goodbye: in the contact's language, never the same variant twice in a row."""

from __future__ import annotations

import random

from dmpilot.domain.persona import Persona


def exit_language(persona: Persona, language: str | None) -> str:
    if language and language in persona.exits:
        return language
    return persona.default_language


def choose_exit_variant(variant_count: int, last_variant: int | None, rng: random.Random) -> int:
    """Index of the variant to send; differs from `last_variant` whenever there is a choice."""
    if variant_count < 1:
        raise ValueError("a persona needs at least one exit variant")
    choices = [i for i in range(variant_count) if i != last_variant] or [0]
    return rng.choice(choices)
