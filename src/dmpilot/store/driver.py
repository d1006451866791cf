"""The hot statements, run straight through the driver's cursor.

SQLAlchemy's execution layer (an execution context, parameter construction, a Result per
statement) costs more CPU than SQLite takes to run a statement, and one message runs
about twenty. `execute` compiles each prebuilt statement once per shape of parameters,
with SQLAlchemy's own compiler and type processors (dates as the same strings, booleans,
JSON), and then hands the driver a SQL string and its values. Errors leave as the same
SQLAlchemy exceptions (`IntegrityError`, `OperationalError`), and a lost PostgreSQL
connection still discards the pool: the unit's rollback meets it through SQLAlchemy.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import Select

Processor = Callable[[Any], Any] | None
_REQUIRED = object()  # a placeholder the caller must give a value for


def execute(db: Connection, statement: ClauseElement, params: Mapping[str, Any]) -> Rows:
    """`db.execute(statement, params)`, through the driver. `statement` must be built once
    (a module constant, or a `Statements` attribute): its compiled forms are kept."""
    # Keys sorted, as SQLAlchemy compiles: an INSERT's columns are the keys it is given.
    return _compiled(db.dialect, statement, tuple(sorted(params))).run(db, params)


class Rows:
    """The rows a statement returned, read the ways SQLAlchemy's results are."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0]

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def all(self) -> list[Any]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


class _Compiled:
    """One statement compiled for one set of parameter names."""

    __slots__ = ("binds", "positional", "raw_rows", "results", "row", "sql")

    def __init__(self, dialect: Dialect, statement: ClauseElement, keys: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"not a SQL statement: {statement}")
        if compiled.post_compile_params or compiled.escaped_bind_names:
            raise TypeError(f"a statement the driver path cannot run: {compiled}")
        self.sql = compiled.string
        # Each placeholder, in the order the driver takes them (sqlite3's `?` by position,
        # psycopg's `%(name)s` by name): the caller's value or the statement's own
        # literal, then the column type's conversion for this driver.
        found: dict[str, tuple[Any, Processor]] = {}
        for bind, name in compiled.bind_names.items():
            literal = _REQUIRED if bind.required else bind.effective_value
            found[name] = (literal, bind.type.dialect_impl(dialect).bind_processor(dialect))
        self.positional = compiled.positiontup is not None
        order = compiled.positiontup if compiled.positiontup is not None else list(found)
        self.binds: list[tuple[str, Any, Processor]] = [(name, *found[name]) for name in order]
        columns = _columns(statement)
        self.results: list[Processor] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self.raw_rows = not any(self.results)
        names = [f"c{i}" if not column.key else column.key for i, column in enumerate(columns)]
        self.row: Any = namedtuple("Row", names, rename=True) if names else None

    def run(self, db: Connection, params: Mapping[str, Any]) -> Rows:
        values = []
        for name, literal, processor in self.binds:
            value = params[name] if literal is _REQUIRED else params.get(name, literal)
            values.append(value if processor is None else processor(value))
        bound: Sequence[Any] | dict[str, Any] = (
            values
            if self.positional
            else {name: value for (name, _, _), value in zip(self.binds, values, strict=True)}
        )
        driver: Any = db.connection.driver_connection
        dbapi = db.dialect.loaded_dbapi
        try:
            cursor = driver.execute(self.sql, bound)
            fetched = cursor.fetchall() if cursor.description is not None else []
            rowcount = cursor.rowcount
        except dbapi.Error as exc:
            # A lost connection fails again in the unit's rollback, through SQLAlchemy,
            # which then discards the pool: the next unit of work gets a live one.
            error = DBAPIError.instance(self.sql, bound, exc, dbapi.Error, dialect=db.dialect)
            raise error from exc
        if self.row is None:
            return Rows([], rowcount)
        make = self.row._make
        if self.raw_rows:
            return Rows([make(row) for row in fetched], rowcount)
        results = self.results
        return Rows(
            [
                make(
                    value if processor is None or value is None else processor(value)
                    for value, processor in zip(row, results, strict=True)
                )
                for row in fetched
            ],
            rowcount,
        )


def _columns(statement: ClauseElement) -> list[Any]:
    if isinstance(statement, Select | UpdateBase):
        return list(statement.exported_columns)
    return []


@lru_cache(maxsize=256)  # a few dozen prebuilt statements, each with a shape or two
def _compiled(dialect: Dialect, statement: ClauseElement, keys: tuple[str, ...]) -> _Compiled:
    return _Compiled(dialect, statement, keys)
