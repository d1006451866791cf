"""Loading persona YAML files, with errors that name the file, the field and the fix."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from dmpilot.domain.persona import Persona

EXAMPLE = "example.yaml"


class PersonaError(ValueError):
    """A persona file that cannot be used, with a message an operator can act on."""


def bundled_persona_path() -> Path:
    return Path(str(resources.files(__package__).joinpath(EXAMPLE)))


def load_persona(path: Path | None = None) -> Persona:
    path = path or bundled_persona_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PersonaError(f"{path}: no such file (set DMPILOT_PERSONA to a persona YAML)") from exc
    except yaml.YAMLError as exc:
        raise PersonaError(f"{path}: not valid YAML: {exc}") from exc
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


def _short(value: object) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) < 80
