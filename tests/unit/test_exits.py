import random

import pytest

from dmpilot.domain.exits import choose_exit_variant, exit_choices, exit_language
from dmpilot.personas import load_persona


def test_never_the_same_variant_twice_in_a_row() -> None:
    rng = random.Random(7)
    last = None
    seen = set()
    for _ in range(200):
        choice = choose_exit_variant(3, last, rng.randint)
        assert choice != last
        seen.add(choice)
        last = choice
    assert seen == {0, 1, 2}


def test_single_variant_is_reused_because_there_is_no_choice() -> None:
    assert choose_exit_variant(1, 0, random.Random().randint) == 0


def test_no_variant_is_an_error() -> None:
    with pytest.raises(ValueError):
        choose_exit_variant(0, None, random.Random().randint)


def test_exit_language_falls_back_to_the_persona_default() -> None:
    persona = load_persona()
    assert exit_language(persona, "fr") == "fr"
    assert exit_language(persona, "de") == "en"
    assert exit_language(persona, None) == "en"


def test_exit_choices_name_a_different_variant_after_each_last_one() -> None:
    choices = exit_choices(3, random.Random(3).randint)
    assert set(choices) == {None, 0, 1, 2}
    assert all(choice != last for last, choice in choices.items())
    assert exit_choices(1, random.Random(3).randint) == {None: 0, 0: 0}
