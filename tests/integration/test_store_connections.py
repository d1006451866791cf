"""Connections PostgreSQL dropped: the store checks no connection out with a round trip
first (no pre-ping), so a dropped one fails one unit of work — as StoreUnavailable, which
the webhook answers with a 503 to be retried — and the next unit works again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy import make_url, text

from dmpilot.domain.ports import StoreUnavailable
from dmpilot.store import Store


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    opened = Store.open(postgres_url, pool_size=2)
    yield opened
    opened.close()


def _terminate_connections(url: str) -> int:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        cursor = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (parsed.database,),
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def _count_contacts(store: Store) -> int:
    with store.writing() as unit:
        return int(unit.db.execute(text("SELECT count(*) FROM contacts")).scalar_one())


def test_a_dropped_connection_fails_one_unit_then_the_pool_recovers(
    store: Store, postgres_url: str
) -> None:
    assert _count_contacts(store) == 0  # a pooled connection exists
    assert _terminate_connections(postgres_url) >= 1
    with pytest.raises(StoreUnavailable, match="database"):
        _count_contacts(store)
    # The failure discarded the pool: what follows runs on new connections.
    assert [_count_contacts(store) for _ in range(3)] == [0, 0, 0]


def _lease(store: Store, contact_id: int) -> bool:
    """A hot statement: these run through the driver's cursor, not SQLAlchemy's layer."""
    now = datetime(2026, 1, 1, 12, 0)
    with store.writing() as unit:
        state = unit.leases.claim_and_load(contact_id, "test", now, timedelta(seconds=1), 5)
        return state is not None


def test_a_connection_dropped_under_a_driver_statement_also_recovers(
    store: Store, postgres_url: str
) -> None:
    with store.writing() as unit:
        contact_id = int(
            unit.db.execute(
                text(
                    "INSERT INTO contacts (channel, external_id, created_at, last_inbound_at, "
                    "cycle_started_at) VALUES ('manychat', '1', now(), now(), now()) RETURNING id"
                )
            ).scalar_one()
        )
    assert _terminate_connections(postgres_url) >= 1
    with pytest.raises(StoreUnavailable, match="database"):
        _lease(store, contact_id)
    # The driver statement handed the lost connection to SQLAlchemy, which discarded the
    # pool: each unit after it runs on a new connection.
    assert [_count_contacts(store) for _ in range(3)] == [1, 1, 1]
    assert _lease(store, contact_id)
