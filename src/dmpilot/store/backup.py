"""Backing up and restoring a SQLite database while dmpilot may be running on it.

A plain `cp` of a WAL database misses whatever is still in `dmpilot.db-wal`; SQLite's
online backup API copies a consistent snapshot that includes it. PostgreSQL is never
copied here: `pg_dump` / `pg_restore` do that job, and `postgres_commands` says how.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import URL

from dmpilot.store.database import (
    create_db_engine,
    masked_url,
    migrate,
    normalize_url,
    schema_head,
)

# 1024 pages (4 MiB at SQLite's default page size) per step: each step is one short read.
STEP_PAGES = 1024
# A write between two steps makes SQLite restart the copy; after this many restarts the
# rest is copied in one step — in WAL mode a single read snapshot that blocks no writer.
MAX_RESTARTS = 3
# How long restore waits for the target's lock before saying a server is using it.
LOCK_TIMEOUT_SECONDS = 0.5
_SIDECARS = ("-wal", "-shm", "-journal")


class Backend(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class BackupError(Exception):
    """A refusal or failure, told in one line that names the fix."""


@dataclass(frozen=True)
class DatabaseFacts:
    """What a verified dmpilot SQLite file holds."""

    path: Path
    revision: str
    contacts: int
    messages: int
    size: int


@dataclass(frozen=True)
class RestoreResult:
    restored: DatabaseFacts
    kept: Path | None  # the replaced database, kept next to it
    migrated_from: str | None  # the backup's revision when it was older than this build's


@dataclass(frozen=True)
class PostgresCommands:
    dump: str
    restore: str


def backend(url: str) -> Backend:
    """Raises UnsupportedDatabase for a URL dmpilot cannot use."""
    return Backend(normalize_url(url).get_backend_name())


def sqlite_path(url: str) -> Path:
    database = normalize_url(url).database
    if not database:  # normalize_url already refuses in-memory databases
        raise BackupError("the database URL names no file")
    return Path(database).expanduser().resolve()


def postgres_commands(url: str, path: str) -> PostgresCommands:
    """The pg_dump / pg_restore lines for this database, its password masked (the user
    types it, or sets PGPASSWORD)."""
    libpq = masked_url(normalize_url(url).set(drivername="postgresql"))
    target = _quote(path)
    return PostgresCommands(
        dump=f"pg_dump --format=custom --file {target} {_quote(libpq)}",
        restore=f"pg_restore --clean --if-exists --no-owner --dbname {_quote(libpq)} {target}",
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# -- backup ---------------------------------------------------------------------------------


def backup(url: str, destination: Path, *, force: bool = False) -> DatabaseFacts:
    """Copy the live SQLite database at `url` to `destination`, atomically: a verified
    temporary file next to it is renamed into place only once complete."""
    source = sqlite_path(url)
    destination = destination.expanduser().absolute()
    if not source.is_file():
        raise BackupError(f"there is no database at {source}; check --database")
    if _same_file(source, destination):
        raise BackupError(f"{destination} is the live database; back up to another file")
    if destination.is_dir():
        raise BackupError(f"{destination} is a directory; give a file name, e.g. dmpilot.bak.db")
    if destination.exists() and not force:
        raise BackupError(f"{destination} already exists; choose a new name or add --force")
    if not destination.parent.is_dir():
        raise BackupError(f"the folder {destination.parent} does not exist; create it first")
    handle, name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
    )
    os.close(handle)
    partial = Path(name)
    try:
        _copy(_open_read_only(source), partial)
        facts = verify(partial)
        _fsync(partial)
        _publish(partial, destination, force=force)
    finally:
        _remove(partial)
    return DatabaseFacts(destination, facts.revision, facts.contacts, facts.messages, facts.size)


def _copy(source: sqlite3.Connection, destination: Path) -> None:
    """The online backup, in steps; a self-contained single file (no -wal) at the end."""
    target = sqlite3.connect(destination, isolation_level=None)
    try:
        try:
            _stepped_backup(source, target)
        except _TooManyRestarts:
            source.backup(target)  # one step: one snapshot
        # The copy inherits the WAL flag; a backup must be one file that `cp` can move.
        target.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"the copy failed: {exc}") from exc
    finally:
        target.close()
        source.close()


class _TooManyRestarts(Exception):
    pass


def _stepped_backup(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    last_remaining: int | None = None
    restarts = 0

    def progress(_status: int, remaining: int, _total: int) -> None:
        nonlocal last_remaining, restarts
        # Remaining pages grow back only when SQLite restarted the copy after a write.
        if last_remaining is not None and remaining >= last_remaining:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise _TooManyRestarts
        last_remaining = remaining

    source.backup(target, pages=STEP_PAGES, progress=progress)


def _open_read_only(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}") from exc


def _publish(partial: Path, destination: Path, *, force: bool) -> None:
    if force:
        os.replace(partial, destination)
    else:
        try:
            # A hard link fails if the name was taken meanwhile: never overwrite by accident.
            os.link(partial, destination)
        except FileExistsError as exc:
            raise BackupError(
                f"{destination} already exists; choose a new name or add --force"
            ) from exc
        except OSError:  # a file system without hard links
            if destination.exists():
                raise BackupError(
                    f"{destination} already exists; choose a new name or add --force"
                ) from None
            os.replace(partial, destination)
    _fsync_folder(destination.parent)


# -- verification ---------------------------------------------------------------------------


def verify(path: Path) -> DatabaseFacts:
    """A readable, intact dmpilot database from this build or an older one, or BackupError."""
    if not path.exists():
        raise BackupError(f"there is no file at {path}")
    if not path.is_file():
        raise BackupError(f"{path} is not a regular file; give the path of a dmpilot backup")
    connection = _open_read_only(path)
    try:
        return _facts(connection, path)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a dmpilot database ({exc})") from exc
    finally:
        connection.close()


def _facts(connection: sqlite3.Connection, path: Path) -> DatabaseFacts:
    check = [row[0] for row in connection.execute("PRAGMA integrity_check(5)")]
    if check != ["ok"]:
        raise BackupError(f"{path} is damaged (integrity check: {'; '.join(check)})")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    if "alembic_version" not in tables:
        raise BackupError(f"{path} is not a dmpilot database (no schema version table)")
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    if row is None:
        raise BackupError(f"{path} is not a dmpilot database (no schema version)")
    revision = str(row[0])
    head, known = schema_head()
    if revision not in known:
        raise BackupError(
            f"{path} was written by a newer dmpilot (schema {revision}, this one knows up to "
            f"{head}); upgrade dmpilot first"
        )
    if not {"contacts", "messages"} <= tables:
        raise BackupError(f"{path} is not a dmpilot database (no contacts or messages table)")
    contacts = connection.execute("SELECT count(*) FROM contacts").fetchone()[0]
    messages = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
    return DatabaseFacts(path, revision, int(contacts), int(messages), path.stat().st_size)


# -- restore --------------------------------------------------------------------------------


def restore(
    backup_path: Path,
    url: str,
    *,
    force: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RestoreResult:
    """Replace the SQLite database at `url` with the backup at `backup_path`."""
    backup_path = backup_path.expanduser().absolute()
    target = sqlite_path(url)
    if _same_file(backup_path, target):
        raise BackupError(f"{backup_path} is the database it would replace")
    facts = verify(backup_path)
    kept: Path | None = None
    with _exclusive(target) as locked:
        try:
            holding = _holds_data(locked)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{target} is not a database SQLite can read ({exc})") from exc
        if holding and not force:
            raise BackupError(
                f"{target} holds {holding}; add --force to replace it (it is kept as "
                f"{target.name}.before-restore-<time>)"
            )
        try:
            if holding or _has_tables(locked):
                kept = target.with_name(f"{target.name}.before-restore-{now():%Y%m%dT%H%M%SZ}")
                _copy_into(locked, kept)
            source = _open_read_only(backup_path)
            try:
                source.backup(locked)
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise BackupError(f"the restore failed: {exc}") from exc
    migrated_from = None
    if facts.revision != schema_head()[0]:
        migrated_from = facts.revision
        engine = create_db_engine(str(URL.create("sqlite", database=str(target))), pool_size=1)
        try:
            migrate(engine)
        finally:
            engine.dispose()
    restored = verify(target)
    return RestoreResult(restored, kept, migrated_from)


@contextlib.contextmanager
def _exclusive(target: Path) -> Iterator[sqlite3.Connection]:
    """A connection holding the target's exclusive lock until it closes. In WAL mode every
    open connection holds a shared lock, so an idle server is caught too, not only one
    that is writing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(target, timeout=LOCK_TIMEOUT_SECONDS, isolation_level=None)
    try:
        try:
            connection.execute("PRAGMA locking_mode=EXCLUSIVE")
            connection.execute("BEGIN EXCLUSIVE")
            # Ending the transaction keeps the lock (exclusive locking mode), and the backup
            # API needs a destination without an open transaction.
            connection.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise BackupError(
                    f"{target} is in use (a dmpilot server or worker appears to be running "
                    "on it); stop it, then restore"
                ) from exc
            raise BackupError(f"cannot open {target}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{target} is not a database SQLite can open ({exc})") from exc
        yield connection
    finally:
        connection.close()


def _holds_data(connection: sqlite3.Connection) -> str | None:
    """What the target holds that a restore would replace, in words; None when nothing."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    if not tables:
        return None
    if not {"contacts", "messages"} <= tables:
        return "tables that are not dmpilot's"
    contacts = connection.execute("SELECT count(*) FROM contacts").fetchone()[0]
    messages = connection.execute("SELECT count(*) FROM messages").fetchone()[0]
    if contacts or messages:
        return f"{contacts} contacts and {messages} messages"
    return None


def _has_tables(connection: sqlite3.Connection) -> bool:
    return bool(connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])


def _copy_into(connection: sqlite3.Connection, path: Path) -> None:
    target = sqlite3.connect(path, isolation_level=None)
    try:
        connection.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
    _fsync(path)


# -- files ----------------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def _remove(path: Path) -> None:
    for suffix in ("", *_SIDECARS):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
