"""`dmpilot doctor`: check a deployment before a live account depends on it."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.markup import escape

from dmpilot.cli.common import app, console, load_settings, plural
from dmpilot.doctor import TIMEOUT_SECONDS, Check, Status, failed, run_checks

_MARK = {
    Status.PASS: "[green]✓[/]",
    Status.WARN: "[yellow]![/]",
    Status.FAIL: "[bold red]✗[/]",
    Status.SKIP: "[dim]-[/]",
}


@app.command()
def doctor(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the checks as a JSON list.")
    ] = False,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            metavar="N",
            help="dmpilot processes sharing the database (serve workers + dmpilot worker), "
            "for the PostgreSQL connection arithmetic.",
        ),
    ] = 3,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, max=60, metavar="SECONDS", help="Timeout of each network check."),
    ] = TIMEOUT_SECONDS,
) -> None:
    """Check this deployment: token, persona, brain, database, ManyChat, public URL.
    Exits 1 when a check failed (warnings are allowed)."""
    settings = load_settings()
    checks = asyncio.run(run_checks(settings, processes=processes, timeout_seconds=timeout))
    if as_json:
        typer.echo(json.dumps([check.as_json() for check in checks], indent=2))
    else:
        _print(checks)
    if failed(checks):
        raise typer.Exit(1)


def _print(checks: list[Check]) -> None:
    for check in checks:
        console.print(
            f"{_MARK[check.status]} [bold]{escape(check.name)}[/]: {escape(check.detail)}",
            highlight=False,
        )
        if check.fix and check.status in (Status.FAIL, Status.WARN):
            console.print(f"    fix: {escape(check.fix)}", highlight=False)
    failures = sum(1 for c in checks if c.status is Status.FAIL)
    warnings = sum(1 for c in checks if c.status is Status.WARN)
    if failures:
        console.print(
            f"[bold red]{plural(failures, 'check')} failed[/]"
            + (f", {plural(warnings, 'warning')}" if warnings else "")
            + ": not ready for a live account",
            highlight=False,
        )
    else:
        console.print(
            "[bold green]ready[/]" + (f" with {plural(warnings, 'warning')}" if warnings else ""),
            highlight=False,
        )
