"""Loading persona YAML files, with errors that name the file, the field and the fix."""

from __future__ import annotations

import os
import re
import stat
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from dmpilot.domain.persona import Persona

EXAMPLE = "example.yaml"
# A persona is a few KB (the bundled one is 13 KB); a bigger file is a mistake, and
# parsing it would stall startup.
MAX_PERSONA_BYTES = 1_000_000
# The bundled persona nests 5 levels and holds a few hundred values. Aliases can make a
# small file expand into billions of values (the "billion laughs"), so both are bounded.
MAX_DEPTH = 20
MAX_VALUES = 100_000
# Line breaks and tabs belong in persona lines; other control characters, NUL (PostgreSQL
# refuses it) and lone surrogates (from "\ud800" escapes) break a DM, a log or a database.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class PersonaError(ValueError):
    """A persona file that cannot be used, with a message an operator can act on."""


def bundled_persona_path() -> Path:
    return Path(str(resources.files(__package__).joinpath(EXAMPLE)))


def read_persona_yaml(path: Path) -> object:
    """The parsed YAML of a persona file, checked for what no persona holds.

    Raises PersonaError naming the file, the problem and the fix for: a missing file, a
    directory, device or FIFO, a file over MAX_PERSONA_BYTES, text that is not UTF-8,
    broken YAML, nesting or aliases beyond the limits, and strings with control characters.
    """
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PersonaError(f"{path}: not UTF-8 text; save the file as UTF-8") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PersonaError(f"{path}: not valid YAML ({yaml_problem(exc)}); fix the syntax") from exc
    except RecursionError as exc:
        raise PersonaError(
            f"{path}: nested too deeply to read (a persona nests {MAX_DEPTH} levels at most); "
            "fix the brackets or indentation"
        ) from exc
    except ValueError as exc:  # a scalar YAML resolves but Python cannot build
        raise PersonaError(f"{path}: {_unreadable(exc)}; fix it, or quote it as text") from exc
    _check_values(path, raw)
    return raw


def load_persona(path: Path | None = None) -> Persona:
    path = path or bundled_persona_path()
    raw = read_persona_yaml(path)
    if not isinstance(raw, dict):
        raise PersonaError(f"{path}: a persona is a YAML mapping (name:, languages:, …)")
    try:
        return Persona.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            + (f" (got {err['input']!r})" if _short(err.get("input")) else "")
            for err in exc.errors()
        )
        raise PersonaError(
            f"{path}: the persona is not valid:\n{problems}\n"
            "See docs/persona.md for every field and an example."
        ) from exc


def yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return " ".join(str(exc).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _unreadable(exc: ValueError) -> str:
    if "integer string conversion" in str(exc):  # Python's 4300-digit int() limit
        return "a number has more digits than can be read"
    return f"a value cannot be read ({exc})"  # e.g. a date like 2026-13-45


def _read_bytes(path: Path) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise PersonaError(
            f"{path}: no such file; check the path (DMPILOT_PERSONA names the persona YAML)"
        ) from exc
    except OSError as exc:
        raise PersonaError(f"{path}: cannot be read ({exc.strerror}); check the path") from exc
    # Checked on the open file, not the path, so nothing can swap it in between.
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise PersonaError(
            f"{path}: cannot be read: it is {_file_kind(info.st_mode)}, not a regular "
            "file; give the path of a persona YAML file"
        )
    with os.fdopen(fd, "rb") as handle:
        # One byte past the limit tells too large, even for a file still being written.
        data = handle.read(MAX_PERSONA_BYTES + 1)
    if len(data) > MAX_PERSONA_BYTES:
        size = max(info.st_size, len(data))
        raise PersonaError(
            f"{path}: {_megabytes(size)} is too large for a persona file (the limit is "
            f"{_megabytes(MAX_PERSONA_BYTES)}); a persona is a few KB, check the path"
        )
    return data


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _check_values(path: Path, raw: object) -> None:
    """Walk the loaded YAML without recursion: depth and size first, then every string."""
    pending: list[tuple[object, str, int]] = [(raw, "", 0)]
    seen = 0
    while pending:
        value, where, depth = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise PersonaError(
                f"{path}: holds more than {MAX_VALUES} values, far more than a persona needs; "
                "remove the bulk, or the &anchor / *alias that repeats it"
            )
        if depth > MAX_DEPTH:
            raise PersonaError(
                f"{path}: {where or '(top level)'} is nested more than {MAX_DEPTH} levels "
                "deep; a persona nests a few levels (see docs/persona.md)"
            )
        if isinstance(value, str):
            _check_text(path, where, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str):
                    _check_text(path, name, key)
                pending.append((item, name, depth + 1))
        elif isinstance(value, list | set):
            pending.extend((item, f"{where}.{i}", depth + 1) for i, item in enumerate(value))


def _check_text(path: Path, where: str, text: str) -> None:
    found = _UNSAFE.search(text)
    if found is None:
        return
    code = ord(found.group())
    what = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    field = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", where) or "(top level)"
    raise PersonaError(
        f"{path}: {field} holds {what} (U+{code:04X}) that no DM can carry; remove it "
        "(look for a \\0, \\x.. or \\u.... escape in the YAML)"
    )


def _short(value: object) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) < 80
