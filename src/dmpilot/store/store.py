"""The store: units of work over SQLite (the embedded default) or PostgreSQL.

`writing()` is one write transaction (on SQLite it takes the write lock up front, queued
behind this process's other writers); `reading()` is one read transaction that never
takes the write lock, so audits and dashboards never stall webhooks. Driver errors leave
as `StoreUnavailable`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from dmpilot.domain.ports import StoreUnavailable
from dmpilot.store.database import create_db_engine, masked_url, migrate
from dmpilot.store.statements import Statements
from dmpilot.store.units import ReadUnit, WriteUnit


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        is_sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time. Queueing this process's writers here keeps them
        # out of SQLite's busy handler, which sleeps in growing steps; other processes
        # still wait on busy_timeout. PostgreSQL needs no such queue.
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if is_sqlite else nullcontext()
        )
        self._sql = Statements(engine.dialect.name)

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True, pool_size: int = 5) -> Store:
        try:
            engine = create_db_engine(url, pool_size=pool_size)
            if run_migrations:
                migrate(engine)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(_describe(exc, masked_url(url))) from exc
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The database URL with any password masked: safe for logs and banners."""
        return masked_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[WriteUnit]:
        try:
            with self._write_lock, self.engine.begin() as connection:
                yield WriteUnit(connection, self._sql)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(_describe(exc, self.url)) from exc

    @contextmanager
    def reading(self) -> Iterator[ReadUnit]:
        try:
            with (
                self.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection,
                connection.begin(),
            ):
                yield ReadUnit(connection, self._sql)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(_describe(exc, self.url)) from exc


def _describe(exc: SQLAlchemyError, url: str) -> str:
    first = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
    return f"database {url}: {type(exc).__name__}: {first}"[:400]
