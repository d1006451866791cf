"""Checking a persona file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dmpilot.cli.common import app, console, plural
from dmpilot.personas.check import Severity, check_persona_file

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


@app.command("check-persona")
def check_persona(
    path: Annotated[
        Path | None,
        typer.Argument(metavar="PATH", help="Persona YAML (default: the bundled one)."),
    ] = None,
) -> None:
    """Validate a persona file: every problem in one run, with the fix for each."""
    persona, problems = check_persona_file(path)
    for problem in problems:
        style = _STYLE[problem.severity]
        console.print(
            f"[{style}]{problem.severity.value}[/] {problem.field}: {problem.message}",
            highlight=False,
        )
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or persona is None:
        console.print(
            f"[bold red]{plural(len(errors), 'error')}[/] in {path or 'the bundled persona'}",
            highlight=False,
        )
        raise typer.Exit(1)
    stages = ", ".join(
        f"{s.name} (from reply {persona.entry_threshold(s.name) + 1}, cap {s.max_replies})"
        for s in persona.stages
    )
    warnings = sum(1 for p in problems if p.severity is Severity.WARNING)
    console.print(
        f"[bold green]ok[/]: {persona.name} · languages {', '.join(persona.languages)} · "
        f"stages {stages} · link {persona.link.url}"
        + (f" · {plural(warnings, 'warning')}" if warnings else ""),
        highlight=False,
    )
