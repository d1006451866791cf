"""Persona files no persona is: too large, a directory, nested or aliased without end,
numbers int() cannot read, strings with NUL or lone surrogates. The loader (serve) and
check-persona both answer with one PersonaError naming the file, the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmpilot.personas import (
    MAX_DEPTH,
    MAX_PERSONA_BYTES,
    PersonaError,
    bundled_persona_path,
    load_persona,
)
from dmpilot.personas.check import FILE, Severity, check_persona_file


def _file(tmp_path: Path, text: str, name: str = "persona.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _both_refuse(path: Path, *fragments: str) -> str:
    """The loader raises, check-persona reports one file error; both with every fragment."""
    with pytest.raises(PersonaError) as raised:
        load_persona(path)
    persona, problems = check_persona_file(path)
    assert persona is None
    [problem] = problems
    assert problem.severity is Severity.ERROR and problem.field == FILE
    for message in (str(raised.value), problem.message):
        assert str(path) in message
        assert "\n" not in message, message
        for fragment in fragments:
            assert fragment in message, (fragment, message)
    return str(raised.value)


def test_a_file_over_the_limit_says_its_size_and_the_limit(tmp_path: Path) -> None:
    example = bundled_persona_path().read_text(encoding="utf-8")
    padding = "# " + "x" * 98 + "\n"
    path = _file(tmp_path, example + padding * (MAX_PERSONA_BYTES // len(padding) + 10))
    _both_refuse(path, "1.0 MB is too large", "the limit is 1.0 MB")


def test_a_file_just_under_the_limit_still_loads(tmp_path: Path) -> None:
    example = bundled_persona_path().read_text(encoding="utf-8")
    padding = "# " + "x" * 98 + "\n"
    room = MAX_PERSONA_BYTES - len(example.encode("utf-8")) - len(padding)
    path = _file(tmp_path, example + padding * (room // len(padding)))
    assert path.stat().st_size <= MAX_PERSONA_BYTES
    assert load_persona(path).name == "Lena"


def test_a_directory_is_not_a_persona_file(tmp_path: Path) -> None:
    _both_refuse(tmp_path, "cannot be read", "a directory, not a regular file")


def test_nesting_deeper_than_pythons_stack_is_a_persona_error(tmp_path: Path) -> None:
    path = _file(tmp_path, "name: " + "[" * 5000 + "]" * 5000 + "\n")
    _both_refuse(path, "nested too deeply", "fix the brackets")


def test_nesting_past_the_depth_limit_is_refused(tmp_path: Path) -> None:
    depth = MAX_DEPTH + 5
    path = _file(tmp_path, "name: " + "[" * depth + "x" + "]" * depth + "\n")
    _both_refuse(path, f"more than {MAX_DEPTH} levels")


def test_a_number_past_the_int_conversion_limit_is_a_persona_error(tmp_path: Path) -> None:
    path = _file(tmp_path, "name: Mia\nreactivate_after_days: " + "9" * 5000 + "\n")
    message = _both_refuse(path, "more digits than can be read", "quote it as text")
    assert "set_int_max_str_digits" not in message


def test_aliases_that_expand_into_millions_of_values_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        ref = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([ref] * 10)}]")
    _both_refuse(_file(tmp_path, "\n".join(lines) + "\n"), "more than", "*alias")


@pytest.mark.parametrize(
    ("escape", "what"),
    [
        ("\\0", "a control character (U+0000)"),
        ("\\x1b[31m", "a control character (U+001B)"),
        ("\\ud800", "a lone surrogate (U+D800)"),
    ],
)
def test_nul_control_characters_and_lone_surrogates_are_refused(
    tmp_path: Path, escape: str, what: str
) -> None:
    example = bundled_persona_path().read_text(encoding="utf-8")
    poisoned = example.replace("name: Lena\n", f'name: "Le{escape}na"\n', 1)
    assert poisoned != example
    _both_refuse(_file(tmp_path, poisoned), f"name holds {what}", "remove it")


def test_a_bad_character_in_a_key_is_named_escaped(tmp_path: Path) -> None:
    message = _both_refuse(_file(tmp_path, 'exits:\n  "e\\0n": [bye]\n'), "U+0000")
    assert "\x00" not in message and "e\\u0000n" in message


def test_line_breaks_and_tabs_in_persona_lines_are_kept(tmp_path: Path) -> None:
    example = bundled_persona_path().read_text(encoding="utf-8")
    first = "  - Short, casual sentences, mostly lowercase, like a real DM.\n"
    kept = example.replace(first, '  - "Short,\\tcasual sentences\\r\\nlike a real DM."\n', 1)
    assert kept != example
    persona = load_persona(_file(tmp_path, kept))
    assert persona.voice[0] == "Short,\tcasual sentences\r\nlike a real DM."
