"""The store's guarantees, on SQLite and PostgreSQL, under real concurrency. Every store
implementation must pass this suite (the `store` fixture runs it on each)."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from contract.driver import TTL, Driver, at_once, turn_for
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.exits import exit_choices
from dmpilot.domain.turns import GOODBYE_TRIGGER, CommitKind, TurnRejected
from dmpilot.store import Store
from dmpilot.store.database import migrate
from dmpilot.store.schema import contacts, events, messages, metadata
from support import T0, inbound


@pytest.fixture
def db(store: Store) -> Driver:
    return Driver(store)


def test_migrations_match_the_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []
    migrate(store.engine)  # idempotent


def test_inbound_is_stored_once_and_repeats_are_recognised(db: Driver) -> None:
    first = db.record(inbound(text="hello"), T0, language="en")
    db.decide(first)
    again = db.record(inbound(text="Hello "), T0 + timedelta(seconds=29), language="en")
    later = db.record(inbound(text="hello"), T0 + timedelta(seconds=31), language="en")
    assert first.message_id is not None and not first.duplicate
    assert again.duplicate and again.duplicate_of == first.message_id
    assert not later.duplicate  # outside the window it is a new message
    other = db.record(inbound(contact="c2", text="hello"), T0)
    assert not other.duplicate
    assert db.count(messages, messages.c.direction == "in") == 3


def test_a_repeat_of_an_undecided_message_takes_its_turn(db: Driver) -> None:
    """The original's request died before any decision: the repeat must not be dropped."""
    first = db.record(inbound(text="are you there"), T0)
    racing = db.record(inbound(text="are you there"), T0 + timedelta(seconds=1))
    assert racing.duplicate  # too soon: the original may still be on its way
    late = db.record(inbound(text="are you there"), T0 + timedelta(seconds=5))
    assert late.retake and not late.duplicate and late.subject_id == first.message_id
    assert db.claim(first.contact_id, "turn") is not None  # someone is answering it now
    busy = db.record(inbound(text="are you there"), T0 + timedelta(seconds=6))
    assert busy.duplicate
    db.release(first.contact_id, "turn")
    db.decide(first, Reason.ERROR)  # a decision was reached, even a failed one
    decided = db.record(inbound(text="are you there"), T0 + timedelta(seconds=9))
    assert decided.duplicate


def test_a_duplicate_skip_is_not_a_decision_about_the_original(db: Driver) -> None:
    first = db.record(inbound(text="hello?"), T0)
    racing = db.record(inbound(text="hello?"), T0 + timedelta(seconds=1))
    db.decide(racing, Reason.DUPLICATE)
    assert db.record(inbound(text="hello?"), T0 + timedelta(seconds=5)).retake
    assert first.message_id == racing.duplicate_of


def test_concurrent_duplicate_deliveries_store_one_message(db: Driver) -> None:
    results = at_once(16, lambda _: db.record(inbound(text="same"), T0))
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.contact_id for r in results}) == 1
    assert db.count(messages) == 1


def test_concurrent_first_messages_of_many_contacts(db: Driver) -> None:
    results = at_once(20, lambda i: db.record(inbound(contact=f"n{i % 5}", text=f"m{i}"), T0))
    assert not any(r.duplicate for r in results)
    assert db.count(contacts) == 5
    assert db.count(messages) == 20


def test_empty_messages_are_stored_and_never_deduplicated(db: Driver) -> None:
    a = db.record(inbound(text=""), T0)
    b = db.record(inbound(text=""), T0)
    assert not a.duplicate and not b.duplicate


def test_one_lease_holder_at_a_time(db: Driver) -> None:
    contact = db.record(inbound(), T0).contact_id
    won = at_once(16, lambda i: db.claim(contact, f"owner{i}") is not None)
    assert won.count(True) == 1
    winner = f"owner{won.index(True)}"
    db.release(contact, "someone-else")  # not the holder: no effect
    assert db.claim(contact, "late", T0 + timedelta(seconds=1)) is None
    # a crashed holder never blocks the contact for good: the lease expires
    assert db.claim(contact, "after-expiry", T0 + TTL) is not None
    db.release(contact, winner)  # the old holder cannot release the new lease
    assert db.claim(contact, "late", T0 + TTL) is None
    db.release(contact, "after-expiry")
    assert db.claim(contact, "late", T0 + TTL) is not None


def test_one_reply_per_turn(db: Driver) -> None:
    rec = db.record(inbound(), T0)
    assert db.claim(rec.contact_id, "a") is not None
    db.commit(turn_for(rec, "a"))
    # the commit released the lease; a second turn for the same message hits the constraint
    assert db.claim(rec.contact_id, "b") is not None
    with pytest.raises(TurnRejected) as rejected:
        db.commit(turn_for(rec, "b"))
    assert rejected.value.reason is Reason.DUPLICATE
    assert db.count(messages, messages.c.direction == "out") == 1


def test_the_goodbye_is_one_turn_per_contact_ever(db: Driver) -> None:
    active = db.record(inbound(text="hi"), T0)
    stop = db.record(inbound(text="stop"), T0, safety_stop=Reason.OPT_OUT)
    assert stop.safety_stop is Reason.OPT_OUT and stop.goodbye_due and not active.stopped
    assert db.claim(stop.contact_id, "a") is not None
    db.commit(
        turn_for(stop, "a", kind=CommitKind.GOODBYE, trigger=GOODBYE_TRIGGER, text="take care")
    )
    assert db.claim(stop.contact_id, "b") is not None
    with pytest.raises(TurnRejected) as again:  # nothing owed any more: fenced off
        db.commit(
            turn_for(stop, "b", kind=CommitKind.GOODBYE, trigger=GOODBYE_TRIGGER, text="take care")
        )
    assert again.value.reason is Reason.STOPPED
    assert db.count(messages, messages.c.kind == "goodbye") == 1


def test_commit_needs_the_live_lease(db: Driver) -> None:
    rec = db.record(inbound(), T0)
    with pytest.raises(TurnRejected) as no_lease:
        db.commit(turn_for(rec, "a"))
    assert no_lease.value.reason is Reason.LEASE_LOST
    assert db.claim(rec.contact_id, "a", T0, timedelta(seconds=5)) is not None
    with pytest.raises(TurnRejected) as expired:
        db.commit(turn_for(rec, "a", now=T0 + timedelta(seconds=6)))
    assert expired.value.reason is Reason.LEASE_LOST
    assert db.count(messages, messages.c.direction == "out") == 0


def test_paused_store_refuses_commits(db: Driver, store: Store) -> None:
    rec = db.record(inbound(), T0)
    assert db.claim(rec.contact_id, "a") is not None
    with store.writing() as unit:
        unit.control.set_paused(True, "investigating", "test", T0)
    with store.reading() as reads:
        assert reads.control().paused and reads.control().reason == "investigating"
    with pytest.raises(TurnRejected) as paused:
        db.commit(turn_for(rec, "a"))
    assert paused.value.reason is Reason.PAUSED
    assert db.record(inbound(text="still stored"), T0).paused
    with store.writing() as unit:
        unit.control.set_paused(False, None, "test", T0)
    with pytest.raises(TurnRejected) as newer:  # "still stored" arrived after this turn began
        db.commit(turn_for(rec, "a"))
    assert newer.value.reason is Reason.COALESCED


def test_exit_stops_the_contact_in_the_same_commit(db: Driver) -> None:
    rec = db.record(inbound(), T0)
    assert db.claim(rec.contact_id, "a") is not None
    committed = db.commit(
        turn_for(
            rec,
            "a",
            kind=CommitKind.EXIT,
            exit_texts=("bye", "ciao"),
            exit_choices={None: 1, 0: 1, 1: 0},
        )
    )
    assert committed.text == "ciao"
    (row,) = db.rows(select(contacts).where(contacts.c.id == rec.contact_id))
    kinds = [kind for (kind,) in db.rows(select(events.c.kind).order_by(events.c.id))]
    assert row.stopped_at == T0 and row.stop_reason == "cap" and row.stage == "stopped"
    assert kinds[-2:] == [EventKind.EXIT, EventKind.STOPPED]
    later = db.record(inbound(text="hello?"), T0 + timedelta(minutes=1))
    assert later.stopped and later.message_id is not None  # stored, and known to be stopped
    assert db.claim(rec.contact_id, "a") is not None
    with pytest.raises(TurnRejected) as stopped:
        db.commit(turn_for(later, "a"))
    assert stopped.value.reason is Reason.STOPPED


def test_concurrent_exits_never_repeat_the_variant_back_to_back(db: Driver) -> None:
    recorded = []
    for i in range(12):
        rec = db.record(inbound(contact=f"x{i}"), T0)
        assert db.claim(rec.contact_id, f"o{i}", ttl=timedelta(seconds=60)) is not None
        recorded.append(rec)
    texts = ("one", "two", "three")

    def exit_turn(i: int) -> int | None:
        choices = exit_choices(3, random.Random(i).randint)
        turn = turn_for(
            recorded[i], f"o{i}", kind=CommitKind.EXIT, exit_texts=texts, exit_choices=choices
        )
        return db.commit(turn).exit_variant

    at_once(12, exit_turn)
    sequence = [
        variant
        for (variant,) in db.rows(
            select(messages.c.exit_variant)
            .where(messages.c.kind == "exit")
            .order_by(messages.c.turn_id)
        )
    ]
    assert len(sequence) == 12
    assert all(a != b for a, b in itertools.pairwise(sequence)), sequence


def test_state_shows_pending_history_and_cycle(db: Driver, store: Store) -> None:
    first = db.record(inbound(text="one"), T0)
    assert db.claim(first.contact_id, "a") is not None
    db.commit(turn_for(first, "a"))
    db.record(inbound(text="two"), T0)
    db.record(inbound(text="three"), T0)
    state = db.state(first.contact_id)
    assert [m.text for m in state.pending] == ["two", "three"]
    assert [m.text for m in state.history] == ["one", "hey there", "two", "three"]
    assert state.cycle_outbound == (("reply", "hey there", "cold"),)
    assert state.stage == "cold" and state.known == {}
    assert state.recent_replies == ("hey there",)
    assert state.external_id == "c1" and state.channel == "manychat"
    with store.reading() as reads:
        assert reads.newest_inbound_id(first.contact_id) == state.pending[-1].id


def test_commit_releases_the_lease(db: Driver) -> None:
    rec = db.record(inbound(), T0)
    assert db.claim(rec.contact_id, "a") is not None
    db.commit(turn_for(rec, "a"))
    assert db.claim(rec.contact_id, "next") is not None
