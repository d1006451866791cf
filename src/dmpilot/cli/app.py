"""The `dmpilot` Typer app: global options and the console entry point."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from dmpilot import __version__
from dmpilot.cli.common import app, errors, fail


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
    # `is not None`: an empty --database (an unset shell variable) must not quietly fall
    # back to DMPILOT_DATABASE_URL or ./dmpilot.db.
    if database is not None:
        if not database.strip():
            fail("--database needs a URL, e.g. --database sqlite:///dmpilot.db")
        os.environ["DMPILOT_DATABASE_URL"] = database


# Settings read these variables (DMPILOT_*, and the providers' usual key variables).
_SETTING_PREFIXES = ("DMPILOT_", "ANTHROPIC_", "OPENAI_")


def _refuse_undecodable_input(argv: list[str], environ: Mapping[str, str]) -> None:
    """Python hands over bytes that are not UTF-8 as lone surrogates ("surrogateescape");
    no contact, path, URL or reason is spelled that way, and printing or storing one fails
    later with a UnicodeEncodeError. Name the argument or variable instead."""
    for position, arg in enumerate(argv[1:], start=1):
        if not _is_utf8(arg):
            shown = escape("".join(_printable(ch) for ch in arg[:60]))
            _refuse(f"argument {position} ('{shown}') is not valid UTF-8 text", "type it again")
    for name, value in sorted(environ.items()):
        # The value is not shown: it may be a key.
        if name.startswith(_SETTING_PREFIXES) and not (_is_utf8(value) and _is_utf8(name)):
            shown = escape("".join(_printable(ch) for ch in name))
            _refuse(f"the environment variable {shown} is not valid UTF-8 text", "set it again")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse(problem: str, fix: str) -> NoReturn:
    errors.print(
        f"[bold red]error:[/] {problem}; {fix}, with the terminal set to UTF-8 (LANG=C.UTF-8)",
        highlight=False,
    )
    raise SystemExit(2)


def _printable(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte is code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return ch if ch.isprintable() else repr(ch)[1:-1]


def run() -> None:
    """Console entry point: an unexpected failure is a one-line error, not a traceback."""
    _refuse_undecodable_input(sys.argv, os.environ)
    try:
        app(prog_name="dmpilot")
    except Exception as exc:
        if os.environ.get("DMPILOT_LOG_LEVEL", "").lower() == "debug":
            raise
        errors.print(
            f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))} "
            "(set DMPILOT_LOG_LEVEL=debug for the traceback)",
            highlight=False,
        )
        raise SystemExit(1) from None
