"""Reading scenario files: the bundled set (eval/scenarios/*.yaml) and an operator's own
directory. A file holds one scenario; a problem is one line naming the file and the field."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml
from pydantic import ValidationError

from dmpilot.eval.scenario import Scenario

MAX_SCENARIO_BYTES = 256 * 1024  # a scenario is a few hundred bytes
SUFFIXES = (".yaml", ".yml")


class ScenarioError(ValueError):
    """A scenario file or directory that cannot be used; the message names it and the fix."""


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {message}{suffix}" if where else f"{message}{suffix}"


def parse(text: str, source: str) -> Scenario:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ScenarioError(f"{source}: {at}{problem}") from exc
    except (RecursionError, ValueError) as exc:
        raise ScenarioError(f"{source}: cannot be read ({type(exc).__name__})") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping (id:, title:, language:, …)")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {_problem(exc)}") from exc


def _read(entry: Path | Traversable, source: str) -> Scenario:
    try:
        data = entry.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: too large for a scenario ({len(data)} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{source}: not UTF-8 text; save it as UTF-8") from exc
    return parse(text, source)


def bundled() -> list[Scenario]:
    folder = resources.files("dmpilot.eval").joinpath("scenarios")
    entries = sorted(
        (e for e in folder.iterdir() if e.name.endswith(SUFFIXES)), key=lambda e: e.name
    )
    return [_read(entry, f"scenarios/{entry.name}") for entry in entries]


def from_directory(directory: Path) -> list[Scenario]:
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: not a directory of scenario files (*.yaml)")
    paths = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not paths:
        raise ScenarioError(f"{directory}: holds no scenario files (*.yaml)")
    return [_read(path, str(path)) for path in paths]


def _unique(scenarios: Iterable[Scenario], where: str) -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    for scenario in scenarios:
        if scenario.id in found:
            raise ScenarioError(f"{where}: two scenarios have the id {scenario.id!r}")
        found[scenario.id] = scenario
    return found


def load(
    directory: Path | None = None, only: str | None = None, include_bundled: bool = True
) -> list[Scenario]:
    """The bundled scenarios plus the directory's; a scenario of the directory replaces the
    bundled one of the same id. `only`: a glob over the ids, e.g. "fr-*"."""
    chosen = _unique(bundled(), "the bundled scenarios") if include_bundled else {}
    if directory is not None:
        chosen.update(_unique(from_directory(directory), str(directory)))
    scenarios = list(chosen.values())
    if only is not None:
        scenarios = [s for s in scenarios if fnmatch.fnmatchcase(s.id, only)]
    return scenarios
