"""The store's guarantees, on SQLite and PostgreSQL, under real concurrency."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from dmpilot.domain.decision import Reason
from dmpilot.domain.exits import choose_exit_variant
from dmpilot.store import CommitKind, Store, TurnCommit, TurnRejected
from dmpilot.store.database import migrate
from dmpilot.store.schema import contacts, events, messages, metadata
from support import T0, inbound

T = TypeVar("T")
WINDOW = timedelta(seconds=30)


def at_once(count: int, fn: Callable[[int], T]) -> list[T]:
    """Run fn(i) in `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def count(store: Store, table, *where) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as db:
        return db.scalar(select(func.count()).select_from(table).where(*where)) or 0


def test_migrations_match_the_schema(store: Store) -> None:
    with store.engine.connect() as db:
        diff = compare_metadata(MigrationContext.configure(db), metadata)
    assert diff == []
    migrate(store.engine)  # idempotent


def test_inbound_is_stored_once_and_repeats_are_recognised(store: Store) -> None:
    first = store.record_inbound(inbound(text="hello"), T0, WINDOW, "en")
    again = store.record_inbound(inbound(text="Hello "), T0 + timedelta(seconds=29), WINDOW, "en")
    later = store.record_inbound(inbound(text="hello"), T0 + timedelta(seconds=31), WINDOW, "en")
    assert first.message_id is not None and not first.duplicate
    assert again.duplicate and again.duplicate_of == first.message_id
    assert not later.duplicate  # outside the window it is a new message
    other = store.record_inbound(inbound(contact="c2", text="hello"), T0, WINDOW, None)
    assert not other.duplicate
    assert count(store, messages, messages.c.direction == "in") == 3


def test_concurrent_duplicate_deliveries_store_one_message(store: Store) -> None:
    results = at_once(16, lambda _: store.record_inbound(inbound(text="same"), T0, WINDOW, None))
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.contact_id for r in results}) == 1
    assert count(store, messages) == 1


def test_concurrent_first_messages_of_many_contacts(store: Store) -> None:
    results = at_once(
        20,
        lambda i: store.record_inbound(
            inbound(contact=f"n{i % 5}", text=f"m{i}"), T0, WINDOW, None
        ),
    )
    assert not any(r.duplicate for r in results)
    assert count(store, contacts) == 5
    assert count(store, messages) == 20


def test_empty_messages_are_stored_and_never_deduplicated(store: Store) -> None:
    a = store.record_inbound(inbound(text=""), T0, WINDOW, None)
    b = store.record_inbound(inbound(text=""), T0, WINDOW, None)
    assert not a.duplicate and not b.duplicate


def test_one_lease_holder_at_a_time(store: Store) -> None:
    contact = store.record_inbound(inbound(), T0, WINDOW, None).contact_id
    ttl = timedelta(seconds=20)
    won = at_once(16, lambda i: store.claim_lease(contact, f"owner{i}", T0, ttl))
    assert won.count(True) == 1
    winner = f"owner{won.index(True)}"
    store.release_lease(contact, "someone-else")  # not the holder: no effect
    assert not store.claim_lease(contact, "late", T0 + timedelta(seconds=1), ttl)
    # a crashed holder never blocks the contact for good: the lease expires
    assert store.claim_lease(contact, "after-expiry", T0 + ttl, ttl)
    store.release_lease(contact, winner)  # the old holder cannot release the new lease
    assert not store.claim_lease(contact, "late", T0 + ttl, ttl)
    store.release_lease(contact, "after-expiry")
    assert store.claim_lease(contact, "late", T0 + ttl, ttl)


def _commit(store: Store, contact: int, owner: str, last_inbound: int, **kw: object) -> TurnCommit:
    return TurnCommit(
        contact_id=contact,
        owner=owner,
        last_inbound_id=last_inbound,
        stage="cold",
        text="hey there",
        language="en",
        now=kw.pop("now", T0),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_one_reply_per_turn(store: Store) -> None:
    rec = store.record_inbound(inbound(), T0, WINDOW, None)
    assert store.claim_lease(rec.contact_id, "a", T0, timedelta(seconds=20))
    assert rec.message_id is not None
    store.commit_turn(_commit(store, rec.contact_id, "a", rec.message_id))
    # the commit released the lease; a second turn for the same message hits the constraint
    assert store.claim_lease(rec.contact_id, "b", T0, timedelta(seconds=20))
    with pytest.raises(TurnRejected) as rejected:
        store.commit_turn(_commit(store, rec.contact_id, "b", rec.message_id))
    assert rejected.value.reason is Reason.DUPLICATE
    assert count(store, messages, messages.c.direction == "out") == 1


def test_commit_needs_the_live_lease(store: Store) -> None:
    rec = store.record_inbound(inbound(), T0, WINDOW, None)
    assert rec.message_id is not None
    with pytest.raises(TurnRejected) as no_lease:
        store.commit_turn(_commit(store, rec.contact_id, "a", rec.message_id))
    assert no_lease.value.reason is Reason.LEASE_LOST
    assert store.claim_lease(rec.contact_id, "a", T0, timedelta(seconds=5))
    with pytest.raises(TurnRejected) as expired:
        store.commit_turn(
            _commit(store, rec.contact_id, "a", rec.message_id, now=T0 + timedelta(seconds=6))
        )
    assert expired.value.reason is Reason.LEASE_LOST
    assert count(store, messages, messages.c.direction == "out") == 0


def test_paused_store_refuses_commits(store: Store) -> None:
    rec = store.record_inbound(inbound(), T0, WINDOW, None)
    assert rec.message_id is not None
    store.claim_lease(rec.contact_id, "a", T0, timedelta(seconds=20))
    store.set_paused(True, "investigating", "test", T0)
    assert store.control().paused and store.control().reason == "investigating"
    with pytest.raises(TurnRejected) as paused:
        store.commit_turn(_commit(store, rec.contact_id, "a", rec.message_id))
    assert paused.value.reason is Reason.PAUSED
    assert store.record_inbound(inbound(text="still stored"), T0, WINDOW, None).paused
    store.set_paused(False, None, "test", T0)
    with pytest.raises(TurnRejected) as newer:  # "still stored" arrived after this turn began
        store.commit_turn(_commit(store, rec.contact_id, "a", rec.message_id))
    assert newer.value.reason is Reason.COALESCED


def test_exit_stops_the_contact_in_the_same_commit(store: Store) -> None:
    rec = store.record_inbound(inbound(), T0, WINDOW, None)
    assert rec.message_id is not None
    store.claim_lease(rec.contact_id, "a", T0, timedelta(seconds=20))
    committed = store.commit_turn(
        _commit(
            store,
            rec.contact_id,
            "a",
            rec.message_id,
            kind=CommitKind.EXIT,
            exit_texts=("bye", "ciao"),
            choose_exit=lambda last: 1,
        )
    )
    assert committed.text == "ciao"
    with store.engine.connect() as db:
        row = db.execute(select(contacts).where(contacts.c.id == rec.contact_id)).one()
        kinds = db.scalars(select(events.c.kind).order_by(events.c.id)).all()
    assert row.stopped_at == T0 and row.stop_reason == "cap" and row.stage == "stopped"
    assert kinds[-2:] == ["exit", "stopped"]
    later = store.record_inbound(inbound(text="hello?"), T0 + timedelta(minutes=1), WINDOW, None)
    assert later.stopped and later.message_id is not None  # stored, and known to be stopped
    assert store.claim_lease(rec.contact_id, "a", T0, timedelta(seconds=20))
    with pytest.raises(TurnRejected) as stopped:
        store.commit_turn(_commit(store, rec.contact_id, "a", later.message_id))
    assert stopped.value.reason is Reason.STOPPED


def test_concurrent_exits_never_repeat_the_variant_back_to_back(store: Store) -> None:
    ids = []
    for i in range(12):
        rec = store.record_inbound(inbound(contact=f"x{i}"), T0, WINDOW, None)
        assert store.claim_lease(rec.contact_id, f"o{i}", T0, timedelta(seconds=60))
        ids.append((rec.contact_id, rec.message_id))
    texts = ("one", "two", "three")

    def exit_turn(i: int) -> int | None:
        contact, message = ids[i]
        rng = random.Random(i)
        return store.commit_turn(
            _commit(
                store,
                contact,
                f"o{i}",
                message,
                kind=CommitKind.EXIT,
                exit_texts=texts,
                choose_exit=lambda last: choose_exit_variant(3, last, rng),
            )
        ).exit_variant

    at_once(12, exit_turn)
    with store.engine.connect() as db:
        sequence = db.scalars(
            select(messages.c.exit_variant)
            .where(messages.c.kind == "exit")
            .order_by(messages.c.turn_id)
        ).all()
    assert len(sequence) == 12
    assert all(a != b for a, b in itertools.pairwise(sequence)), sequence


def test_state_shows_pending_history_and_cycle(store: Store) -> None:
    first = store.record_inbound(inbound(text="one"), T0, WINDOW, None)
    store.claim_lease(first.contact_id, "a", T0, timedelta(seconds=20))
    assert first.message_id is not None
    store.commit_turn(_commit(store, first.contact_id, "a", first.message_id))
    store.record_inbound(inbound(text="two"), T0, WINDOW, None)
    store.record_inbound(inbound(text="three"), T0, WINDOW, None)
    state = store.load_state(first.contact_id, history_limit=10)
    assert [m.text for m in state.pending] == ["two", "three"]
    assert [m.text for m in state.history] == ["one", "hey there", "two", "three"]
    assert state.cycle_replies == ("hey there",)
    assert state.recent_replies == ("hey there",)
    assert store.newest_inbound_id(first.contact_id) == state.pending[-1].id


def test_commit_releases_the_lease(store: Store) -> None:
    rec = store.record_inbound(inbound(), T0, WINDOW, None)
    assert rec.message_id is not None
    assert store.claim_lease(rec.contact_id, "a", T0, timedelta(seconds=20))
    store.commit_turn(_commit(store, rec.contact_id, "a", rec.message_id))
    assert store.claim_lease(rec.contact_id, "next", T0, timedelta(seconds=20))
