"""`dmpilot backup` / `dmpilot restore`: a consistent copy of a SQLite database, even
while the server writes to it (a `cp` can miss what is still in the -wal file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from dmpilot.cli.common import app as cli_app
from dmpilot.cli.common import console, errors, fail, load_settings, plural
from dmpilot.store import backup as store_backup
from dmpilot.store.backup import Backend, BackupError, DatabaseFacts
from dmpilot.store.database import UnsupportedDatabase

# Not the user's mistake, but nothing was saved: scripts must not take it for a backup.
POSTGRES_EXIT = 2


def _backend(url: str) -> Backend:
    try:
        return store_backup.backend(url)
    except UnsupportedDatabase as exc:
        fail(str(exc))


def _postgres(url: str, path: Path, verb: str) -> NoReturn:
    commands = store_backup.postgres_commands(url, str(path))
    errors.print(
        f"dmpilot does not {verb} PostgreSQL databases itself; use PostgreSQL's tools "
        "(replace *** with the password, or leave it out and set PGPASSWORD):",
        highlight=False,
    )
    console.print(f"  back up:  {commands.dump}", highlight=False, markup=False)
    console.print(f"  restore:  {commands.restore}", highlight=False, markup=False)
    raise typer.Exit(POSTGRES_EXIT)


def _size(size: int) -> str:
    if size < 1024:
        return plural(size, "byte")
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit}"


def _describe(facts: DatabaseFacts) -> str:
    return (
        f"{plural(facts.contacts, 'contact')}, {plural(facts.messages, 'message')}, "
        f"{_size(facts.size)}, schema {facts.revision}"
    )


@cli_app.command()
def backup(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite PATH if it exists.")] = False,
) -> None:
    """Copy the database to PATH, safely while the server is running (SQLite); for
    PostgreSQL, print the pg_dump command."""
    url = load_settings().database_url
    if _backend(url) is Backend.POSTGRESQL:
        _postgres(url, path, "back up")
    try:
        facts = store_backup.backup(url, path, force=force)
    except BackupError as exc:
        fail(str(exc), code=1)
    console.print(f"[bold green]saved[/] {facts.path}: {_describe(facts)}", highlight=False)


@cli_app.command()
def restore(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="A file made by dmpilot backup.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a database that holds data (it is kept aside)."),
    ] = False,
) -> None:
    """Replace the (SQLite) database with a backup; stop the server first."""
    url = load_settings().database_url
    if _backend(url) is Backend.POSTGRESQL:
        _postgres(url, path, "restore")
    try:
        result = store_backup.restore(path, url, force=force)
    except BackupError as exc:
        fail(str(exc), code=1)
    if result.kept is not None:
        console.print(f"the replaced database is kept as {result.kept}", highlight=False)
    if result.migrated_from is not None:
        console.print(
            f"upgraded the schema from {result.migrated_from} to {result.restored.revision}",
            highlight=False,
        )
    console.print(
        f"[bold green]restored[/] {result.restored.path}: {_describe(result.restored)}",
        highlight=False,
    )
