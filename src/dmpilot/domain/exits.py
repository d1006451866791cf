"""Choosing the goodbye: in the contact's language, never the same variant twice in a row."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dmpilot.domain.persona import Persona


def exit_language(persona: Persona, language: str | None) -> str:
    if language and language in persona.exits:
        return language
    return persona.default_language


def choose_exit_variant(
    variant_count: int, last_variant: int | None, randint: Callable[[int, int], int]
) -> int:
    """Index of the variant to send; differs from `last_variant` whenever there is a choice."""
    if variant_count < 1:
        raise ValueError("a persona needs at least one exit variant")
    choices = [i for i in range(variant_count) if i != last_variant] or [0]
    return choices[randint(0, len(choices) - 1)]


def exit_choices(
    variant_count: int,
    randint: Callable[[int, int], int],
    allowed: Sequence[int] | None = None,
) -> dict[int | None, int]:
    """The variant to send after each possible last one (None: no exit sent yet), decided
    up front so the store can apply it atomically against the account's last variant.
    `allowed`: the variants that may be sent at all (the others were broadcasts)."""
    usable = list(allowed) if allowed is not None else list(range(variant_count))
    if not usable:
        raise ValueError("no exit variant may be sent")
    lasts: list[int | None] = [None, *range(variant_count)]
    return {
        last: usable[choose_exit_variant(len(usable), _index(usable, last), randint)]
        for last in lasts
    }


def _index(usable: list[int], last: int | None) -> int | None:
    return usable.index(last) if last in usable else None
