"""The driver path (store/driver.py) reads and writes exactly what SQLAlchemy's own
execution does, on both stores: the same stored values, the same rows back, the same
exceptions."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound

from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.store import Store
from dmpilot.store.driver import execute
from dmpilot.store.events import add_event
from dmpilot.store.schema import contacts, events, messages
from dmpilot.store.statements import Statements

# Microseconds and a whole second: SQLite keeps dates as strings, both must sort alike.
NOW = datetime(2026, 3, 1, 12, 30, 15, 250)
WHOLE = datetime(2026, 3, 1, 12, 30, 16)
# Text a contact may really send (the webhooks remove NUL and lone surrogates first).
ODD = "l'été 🌍 — \u200b 'quoted' %(name)s ? $1 \\ ;"


def _contact(db: Connection, sql: Statements, external_id: str, now: datetime) -> Any:
    return execute(
        db,
        sql.upsert_contact,
        {
            "channel": "manychat",
            "external_id": external_id,
            "name": ODD,
            "username": None,
            "language": "fr",
            "source": None,
            "now": now,
        },
    ).one()


def test_an_upsert_returns_what_sqlalchemy_reads_back(store: Store) -> None:
    with store.writing() as unit:
        sql = Statements(store.dialect)
        row = _contact(unit.db, sql, "42", NOW)
        again = _contact(unit.db, sql, "42", WHOLE)
        stored = unit.db.execute(select(contacts).where(contacts.c.id == row.id)).one()
    assert row.id == again.id == stored.id
    assert row.created_at == NOW == stored.created_at
    assert stored.last_inbound_at == WHOLE  # the conflict branch wrote its own `now`
    assert (stored.name, stored.language) == (ODD, "fr")
    assert row.stopped_at is None and row.goodbye_due is False
    assert row.follow_up_pending is False and again.paused is False


def test_rows_and_scalars_match_sqlalchemy(store: Store) -> None:
    with store.writing() as unit:
        sql = Statements(store.dialect)
        contact_id = _contact(unit.db, sql, "7", NOW).id
        for minute, text in enumerate(["first", ODD, "x" * 5000]):
            execute(
                unit.db,
                sql.insert_message,
                {
                    "contact_id": contact_id,
                    "direction": "in",
                    "kind": "text",
                    "text": text,
                    "media_url": None,
                    "language": None,
                    "created_at": NOW + timedelta(minutes=minute),
                },
            ).scalar_one()
        ids = {"contact_id": contact_id, "limit": 10}
        fast = execute(unit.db, sql.history, ids).all()
        slow = unit.db.execute(sql.history, ids).all()
        assert [tuple(row) for row in fast] == [tuple(row) for row in slow]
        assert [row.text for row in fast] == ["x" * 5000, ODD, "first"]
        assert fast[0].created_at == NOW + timedelta(minutes=2)
        newest = execute(unit.db, sql.paused_and_newest, {"contact_id": contact_id}).one()
        assert tuple(newest) == tuple(unit.db.execute(sql.paused_and_newest, ids).one())
        assert execute(unit.db, sql.pending, {"contact_id": -1}).first() is None
        assert execute(unit.db, sql.pending, {"contact_id": -1}).scalar() is None
        with pytest.raises(NoResultFound):
            execute(unit.db, sql.contact, {"contact_id": -1}).one()
        with pytest.raises(MultipleResultsFound):
            execute(unit.db, sql.history, ids).one()


def test_json_and_enums_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    detail = {"why": ODD, "n": 3, "nested": [1, None, True]}
    with store.writing() as unit:
        add_event(unit.db, NOW, EventKind.SKIPPED, Reason.DUPLICATE, detail=detail)
        add_event(unit.db, WHOLE, EventKind.SKIPPED, Reason.EMPTY)
        stored = unit.db.execute(
            select(events.c.created_at, events.c.reason, events.c.detail).order_by(events.c.id)
        ).all()
    assert [tuple(row) for row in stored] == [
        (NOW, "duplicate", detail),
        (WHOLE, "empty", None),
    ]


def test_a_failed_statement_raises_sqlalchemys_exception_and_stores_nothing(
    store: Store,
) -> None:
    sql = Statements(store.dialect)
    with store.writing() as unit:
        contact_id = _contact(unit.db, sql, "9", NOW).id
    params = {
        "contact_id": contact_id + 1000,  # no such contact: the foreign key refuses it
        "direction": "in",
        "kind": "text",
        "text": "orphan",
        "media_url": None,
        "language": None,
        "created_at": NOW,
    }
    with pytest.raises(StoreUnavailable, match="IntegrityError") as raised, store.writing() as unit:
        execute(unit.db, sql.insert_message, params)
    assert isinstance(raised.value.__cause__, IntegrityError)  # what callers catch
    with store.reading() as reads:
        assert reads.db.execute(select(messages.c.id)).all() == []


def test_a_locked_sqlite_database_is_store_unavailable(tmp_path: Path) -> None:
    """The write lock is taken by BEGIN IMMEDIATE, sent straight to the driver: a database
    another process holds is refused as StoreUnavailable (a 503), never a raw error."""
    path = tmp_path / "locked.db"
    store = Store.open(f"sqlite:///{path}", pool_size=1)
    try:
        with store.engine.connect() as connection:  # the pool's one connection, at once
            connection.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable, match="locked"), store.writing():
                pass
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        with store.writing() as unit:  # released: the same connection writes again
            add_event(unit.db, NOW, EventKind.SKIPPED, Reason.EMPTY)
    finally:
        store.close()
