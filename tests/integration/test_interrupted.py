"""A message whose turn died with its process is explained, once, on both stores."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from dmpilot.demo import demo_system, run_demo
from dmpilot.domain.commands import RecoverInterrupted
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.runtime import ManualClock
from dmpilot.store import Store
from dmpilot.store.schema import contacts, events
from support import T0, FakeClock, build_engine, engine_config, settings_for, text_inbound

CONFIG = engine_config()


def _store_only(store: Store, clock: FakeClock, contact: str, text: str) -> int:
    """What a process killed right after storing leaves behind: a message, no decision."""
    with store.writing() as unit:
        recorded = unit.inbox.record(
            text_inbound(contact, text, clock.now()),
            clock.now(),
            dedup_window=CONFIG.dedup_window,
            language="en",
        )
    return recorded.contact_id


def _reasons(store: Store) -> list[str | None]:
    with store.reading() as reads:
        return list(
            reads.db.scalars(
                select(events.c.reason).where(events.c.kind == EventKind.SKIPPED.value)
            )
        )


async def test_an_undecided_message_is_marked_interrupted_once(store: Store) -> None:
    clock = FakeClock()
    harness = build_engine(store, config=CONFIG, clock=clock)
    _store_only(store, clock, "killed", "hello?")
    answered = await harness.handle(text_inbound("alive", "hi there", clock.now()))
    assert answered.text  # decided by a turn: never marked

    # Still inside the window where ManyChat's retry may take the turn: left alone.
    clock.advance(seconds=CONFIG.dedup_window.total_seconds())
    assert await harness.command(RecoverInterrupted()) == 0

    clock.advance(seconds=CONFIG.abandoned_after.total_seconds())
    assert await harness.command(RecoverInterrupted()) == 1
    assert await harness.command(RecoverInterrupted()) == 0  # a second sweep adds nothing
    assert _reasons(store) == [Reason.INTERRUPTED.value]


async def test_turns_owed_or_running_are_not_interrupted(store: Store) -> None:
    clock = FakeClock()
    harness = build_engine(store, config=CONFIG, clock=clock)
    owed = _store_only(store, clock, "owed", "queued for the worker")
    running = _store_only(store, clock, "running", "a turn holds it")
    later = clock.now() + timedelta(days=1)
    with store.writing() as unit:
        unit.db.execute(update(contacts).where(contacts.c.id == owed).values(turn_due_at=later))
        unit.db.execute(
            update(contacts)
            .where(contacts.c.id == running)
            .values(lease_owner="elsewhere", lease_expires_at=later)
        )
    clock.advance(hours=1)
    assert await harness.command(RecoverInterrupted()) == 0


async def test_older_than_the_lookback_is_left_alone(store: Store) -> None:
    clock = FakeClock()
    harness = build_engine(store, config=CONFIG, clock=clock)
    _store_only(store, clock, "ancient", "hello from last week")
    clock.advance(days=3)
    assert await harness.command(RecoverInterrupted()) == 0
    assert await harness.command(RecoverInterrupted(lookback=timedelta(days=7))) == 1


async def test_a_whole_simulated_history_has_nothing_interrupted(
    store: Store, database_url: str
) -> None:
    """Every message of a normal history (stops, minors, media, retries) is decided."""
    system = demo_system(store, settings_for(database_url), T0, seed=3)
    outcomes = await run_demo(system, contacts=20, seed=3)
    assert outcomes["sent"] > 50
    clock = system.clock
    assert isinstance(clock, ManualClock)
    clock.current += timedelta(hours=2)
    assert await system.engine.handle(RecoverInterrupted(lookback=timedelta(days=30))) == 0
