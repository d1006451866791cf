"""The `dmpilot` Typer app: global options and the console entry point."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from dmpilot import __version__
from dmpilot.cli.common import app, errors


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dmpilot {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            metavar="URL",
            help="Database URL for this command (else DMPILOT_DATABASE_URL or ./dmpilot.db).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """dmpilot answers Instagram DMs as an AI persona, and never embarrasses the account."""
    if database:
        os.environ["DMPILOT_DATABASE_URL"] = database


def run() -> None:
    """Console entry point: an unexpected failure is a one-line error, not a traceback."""
    try:
        app(prog_name="dmpilot")
    except Exception as exc:
        if os.environ.get("DMPILOT_LOG_LEVEL", "").lower() == "debug":
            raise
        errors.print(
            f"[bold red]error:[/] {type(exc).__name__}: {exc} "
            "(set DMPILOT_LOG_LEVEL=debug for the traceback)",
            highlight=False,
        )
        raise SystemExit(1) from None
