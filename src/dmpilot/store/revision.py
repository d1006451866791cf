"""Reading a database's schema revision and connection limit, without changing anything.

For `dmpilot doctor`: unlike `Store.open`, nothing here migrates, creates a SQLite file or
keeps a pool; every connection attempt is bounded by a timeout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from dmpilot.domain.ports import StoreUnavailable
from dmpilot.store.database import masked_url, normalize_url, schema_head


@dataclass(frozen=True, slots=True)
class SchemaState:
    dialect: str  # "sqlite" or "postgresql"
    current: str | None  # None: never migrated
    head: str  # the newest revision this dmpilot ships
    known: frozenset[str]  # every revision this dmpilot ships
    max_connections: int | None = None  # PostgreSQL only
    reserved_connections: int | None = None  # PostgreSQL: kept for superusers


def schema_state(url: str, timeout_seconds: float) -> SchemaState:
    """The database's revision (and limits on PostgreSQL); StoreUnavailable when it cannot
    be reached or, for SQLite, when the file does not exist (opening it would create it)."""
    parsed = normalize_url(url)
    head, known = schema_head()
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_state(parsed, timeout_seconds, head, known)
        return _postgres_state(parsed, timeout_seconds, head, known)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
        raise StoreUnavailable(
            f"database {masked_url(parsed)}: {type(exc).__name__}: {first}"[:400]
        ) from exc


def _sqlite_state(url: URL, timeout: float, head: str, known: frozenset[str]) -> SchemaState:
    path = Path(url.database or "").expanduser()
    if not path.is_file():
        raise StoreUnavailable(f"database {masked_url(url)}: no such file")
    # Read-only: doctor must not take the write lock or switch the journal mode.
    readonly = url.set(database=f"file:{path.resolve()}", query={"mode": "ro", "uri": "true"})
    engine = create_engine(readonly, poolclass=NullPool, connect_args={"timeout": timeout})
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return SchemaState("sqlite", current, head, known)


def _postgres_state(url: URL, timeout: float, head: str, known: frozenset[str]) -> SchemaState:
    milliseconds = int(timeout * 1000)
    engine = create_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": max(1, math.ceil(timeout)),
            "options": f"-c statement_timeout={milliseconds}",
        },
    )
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            limit = connection.execute(text("SHOW max_connections")).scalar_one()
            reserved = connection.execute(text("SHOW superuser_reserved_connections")).scalar_one()
    finally:
        engine.dispose()
    return SchemaState("postgresql", current, head, known, int(limit), int(reserved))
