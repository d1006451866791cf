"""Connecting to the database and bringing its schema up to date."""

from __future__ import annotations

import fcntl
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError

MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: every dmpilot process that migrates takes the same advisory lock.
_PG_MIGRATION_LOCK = 0x646D_7069


SUPPORTED = "sqlite:///path/to/dmpilot.db or postgresql://user:password@host:5432/dbname"


class UnsupportedDatabase(ValueError):
    """A database URL dmpilot cannot use; the message says which ones it can."""


def normalize_url(url: str) -> URL:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise UnsupportedDatabase(
            f"{_unparsed(url)} is not a database URL; use {SUPPORTED}"
        ) from exc
    _refuse_unusable(parsed)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    raise UnsupportedDatabase(
        f"dmpilot does not support {parsed.drivername!r} databases; use {SUPPORTED}"
    )


def _refuse_unusable(url: URL) -> None:
    """A URL that parses but names no database dmpilot can keep its state in."""
    if url.port is not None and not 1 <= url.port <= 65535:
        raise UnsupportedDatabase(
            f"{masked_url(url)}: {url.port} is not a port (1-65535); fix the port, e.g. "
            "postgresql://user:password@host:5432/dbname"
        )
    if url.get_backend_name() == "sqlite" and _in_memory(url):
        # Everything is lost on exit, and each pooled connection sees a database of its own.
        raise UnsupportedDatabase(
            f"{url.drivername}: an in-memory SQLite database is gone when dmpilot exits "
            "and cannot be shared; use a file, e.g. sqlite:///dmpilot.db"
        )


def _unparsed(url: str) -> str:
    """A URL that did not parse, for an error message: where its password ends cannot be
    told, so only the scheme is shown."""
    scheme, separator, _rest = url.partition("://")
    return f"'{scheme[:30]}://…'" if separator else "the database URL (no scheme://)"


def _in_memory(url: URL) -> bool:
    """sqlite://, sqlite:///:memory:, and the URI forms file::memory: and ?mode=memory."""
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    )


# Query parameters that can carry a credential (libpq's password, sslpassword, tokens, keys).
_SECRET_PARAM = re.compile(r"password|passwd|pwd|secret|token|key", re.IGNORECASE)


def masked_url(url: str | URL) -> str:
    """A database URL fit for logs, banners and error messages: the password hidden, in the
    userinfo and in any query parameter that can carry one (`?password=...`)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return "<not a database URL>"
    query = {
        name: ("***" if _SECRET_PARAM.search(name) else value)
        for name, value in parsed.query.items()
    }
    # Query values are rendered percent-encoded; show the mask as the userinfo shows it.
    rendered = parsed.set(query=query).render_as_string(hide_password=True)
    return rendered.replace("=%2A%2A%2A", "=***")


def pool_capacity(pool_size: int) -> int:
    """Connections one process may hold: the pool and as many again in overflow."""
    return 2 * pool_size


def create_db_engine(url: str, pool_size: int = 5) -> Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, pool_size)
    # Each process holds at most pool_size + max_overflow connections (README: sizing).
    # No pre-ping (a round trip per checkout): a connection the server dropped fails its
    # statement, SQLAlchemy then discards the whole pool, and the request answers 503 —
    # a retry is safe, since every message's dedup key makes storing it idempotent.
    overflow = pool_capacity(pool_size) - pool_size
    return create_engine(parsed, pool_size=pool_size, max_overflow=overflow)


def _sqlite_engine(url: URL, pool_size: int) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_capacity(pool_size) - pool_size,
        connect_args={"timeout": 30, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front, so two transactions never deadlock upgrading
        # a read lock; read-only work asks for a deferred BEGIN.
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        statement = f"BEGIN {mode}"
        # Straight to the driver (two per message); SQLAlchemy runs this hook outside its
        # own error handling, so a locked database is wrapped here, as StoreUnavailable
        # expects.
        try:
            connection.connection.driver_connection.execute(statement)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc

    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def schema_head() -> tuple[str, frozenset[str]]:
    """The newest schema revision this dmpilot ships, and every revision it knows."""
    scripts = ScriptDirectory.from_config(_alembic_config())
    head = scripts.get_current_head()
    if head is None:  # only a broken install ships no migrations
        raise RuntimeError("dmpilot ships no migrations; reinstall it")
    return head, frozenset(r.revision for r in scripts.walk_revisions())


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(f"{database}.migrate.lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision; safe when several processes start at once."""
    config = _alembic_config()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        return
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
