"""The story of a turn through the real engine and store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from dmpilot.brains import BrainError, BrainReply, BrainRequest, ScriptedBrain
from dmpilot.domain.decision import Action, Reason
from dmpilot.domain.guard import GuardConfig
from dmpilot.engine import Engine, EngineConfig
from dmpilot.personas import load_persona
from dmpilot.store import Store
from dmpilot.store.schema import contacts, events, messages
from support import T0, inbound, text_inbound

PERSONA = load_persona()


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FailingBrain:
    name = "failing"
    checks_broadcast = True

    async def generate(self, request: BrainRequest) -> BrainReply:
        raise BrainError("529 overloaded")

    async def aclose(self) -> None: ...


class CrashingBrain(FailingBrain):
    async def generate(self, request: BrainRequest) -> BrainReply:
        raise RuntimeError("bug in an adapter")


class SlowBrain(FailingBrain):
    async def generate(self, request: BrainRequest) -> BrainReply:
        await asyncio.sleep(30)
        return BrainReply("too late", "slow")


class ParrotBrain(FailingBrain):
    """The old system's failure: the same sentence every time."""

    async def generate(self, request: BrainRequest) -> BrainReply:
        return BrainReply("haha where are you writing from?", "parrot")


def config(
    coalesce: float = 0.0, budget: float = 5.0, guard: GuardConfig | None = None
) -> EngineConfig:
    return EngineConfig(
        dedup_window=timedelta(seconds=30),
        coalesce_seconds=coalesce,
        reply_budget_seconds=budget,
        lease=timedelta(seconds=20),
        history_messages=20,
        guard=guard,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_engine(store: Store, clock: Clock) -> Iterator:
    def build(
        brain=None, coalesce: float = 0.0, budget: float = 5.0, persona=PERSONA, guard=None
    ) -> Engine:  # type: ignore[no-untyped-def]
        return Engine(
            store,
            brain or ScriptedBrain(seed=1),
            persona,
            config(coalesce, budget, guard),
            clock=clock,
        )

    yield build


def rows(store: Store, query):  # type: ignore[no-untyped-def]
    with store.engine.connect() as db:
        return db.execute(query).all()


def skip_reasons(store: Store) -> list[str]:
    return [
        r.reason
        for r in rows(
            store, select(events.c.reason).where(events.c.kind == "skipped").order_by(events.c.id)
        )
    ]


async def test_a_whole_funnel_then_one_exit_then_silence_forever(
    store: Store, make_engine, clock: Clock
) -> None:
    engine = make_engine()
    stages = []
    for i in range(10):
        decision = await engine.handle(text_inbound("fan", f"message number {i}", clock.now))
        assert decision.action is Action.SEND, decision
        stages.append(decision.stage)
        clock.advance(minutes=1)
    assert stages == ["cold"] * 3 + ["warm"] * 3 + ["hot"] * 2 + ["pitched"] * 2
    goodbye = await engine.handle(text_inbound("fan", "and another", clock.now))
    assert goodbye.action is Action.EXIT and goodbye.should_stop and goodbye.should_send
    assert goodbye.text in PERSONA.exits["en"]
    for i in range(5):
        clock.advance(days=40)
        later = await engine.handle(text_inbound("fan", f"hello again {i}", clock.now))
        assert (later.should_send, later.reason, later.stage) == (False, Reason.STOPPED, "stopped")
    out = rows(store, select(messages.c.text, messages.c.kind).where(messages.c.direction == "out"))
    assert len(out) == 11 and [k for _, k in out].count("exit") == 1
    assert str(PERSONA.link.url) in " ".join(t for t, _ in out)
    assert sum(str(PERSONA.link.url) in t for t, _ in out) == PERSONA.link.budget
    inbound_count = rows(
        store, select(func.count()).select_from(messages).where(messages.c.direction == "in")
    )
    assert inbound_count[0][0] == 16  # every message stored, including after the stop


async def test_exit_in_the_contacts_language(store: Store, make_engine, clock: Clock) -> None:
    persona = PERSONA.model_copy(
        update={"stages": [PERSONA.stages[0].model_copy(update={"max_replies": 1})]}
    )
    engine = make_engine(persona=persona)
    assert (
        await engine.handle(text_inbound("fr1", "salut ça va ?", clock.now))
    ).action is Action.SEND
    clock.advance(minutes=1)
    goodbye = await engine.handle(text_inbound("fr1", "merci, et toi tu fais quoi ?", clock.now))
    assert goodbye.text in PERSONA.exits["fr"]


async def test_brain_errors_are_silence_plus_an_event(
    store: Store, make_engine, clock: Clock
) -> None:
    for brain, reason in [(FailingBrain(), Reason.ERROR), (CrashingBrain(), Reason.ERROR)]:
        decision = await make_engine(brain).handle(
            text_inbound("e", f"hi {reason} {brain}", clock.now)
        )
        assert (decision.should_send, decision.text, decision.reason) == (False, "", reason)
    assert (
        rows(
            store, select(func.count()).select_from(messages).where(messages.c.direction == "out")
        )[0][0]
        == 0
    )
    assert skip_reasons(store) == ["error", "error"]
    detail = rows(
        store, select(events.c.detail).where(events.c.reason == "error").order_by(events.c.id)
    )
    assert (
        "529 overloaded" in detail[0][0]["error"] and "bug in an adapter" in detail[1][0]["error"]
    )


async def test_a_slow_brain_times_out_within_the_budget(
    store: Store, make_engine, clock: Clock
) -> None:
    decision = await make_engine(SlowBrain(), budget=0.5).handle(text_inbound("s", "hi", clock.now))
    assert decision.reason is Reason.TIMEOUT and not decision.should_send


async def test_a_repeating_brain_is_silenced(store: Store, make_engine, clock: Clock) -> None:
    engine = make_engine(ParrotBrain())
    sent = [await engine.handle(text_inbound("p", f"msg {i}", clock.now)) for i in range(5)]
    assert [d.should_send for d in sent] == [True, False, False, False, False]
    assert skip_reasons(store) == ["repetition"] * 4


async def test_pause_stores_but_does_not_answer(store: Store, make_engine, clock: Clock) -> None:
    store.set_paused(True, "checking a loop", "test", clock.now)
    decision = await make_engine().handle(text_inbound("q", "hi", clock.now))
    assert decision.reason is Reason.PAUSED
    store.set_paused(False, None, "test", clock.now)
    assert (await make_engine().handle(text_inbound("q", "hi again", clock.now))).should_send
    assert (
        rows(store, select(func.count()).select_from(messages).where(messages.c.direction == "in"))[
            0
        ][0]
        == 2
    )


async def test_empty_message_is_answered_empty(store: Store, make_engine, clock: Clock) -> None:
    decision = await make_engine().handle(inbound(contact="z", text="\ud800\x00"))
    assert (decision.should_send, decision.reason) == (False, Reason.EMPTY)
    assert rows(store, select(messages.c.kind))[0][0] == "empty"


async def test_concurrent_duplicates_get_one_reply(store: Store, make_engine, clock: Clock) -> None:
    engine = make_engine(coalesce=0.2)
    decisions = await asyncio.gather(
        *(engine.handle(text_inbound("d", "same words", clock.now)) for _ in range(6))
    )
    assert [d.should_send for d in decisions].count(True) == 1
    assert sorted(d.reason or "" for d in decisions if not d.should_send) == ["duplicate"] * 5


async def test_a_burst_is_answered_once_by_the_latest(
    store: Store, make_engine, clock: Clock
) -> None:
    engine = make_engine(coalesce=0.5)

    async def send(i: int):  # type: ignore[no-untyped-def]
        await asyncio.sleep(i * 0.05)
        return await engine.handle(text_inbound("b", f"part {i}", clock.now))

    decisions = await asyncio.gather(*(send(i) for i in range(4)))
    assert [d.should_send for d in decisions] == [False, False, False, True]
    assert [d.reason for d in decisions[:3]] == [Reason.COALESCED] * 3
    turns = rows(
        store, select(func.count()).select_from(messages).where(messages.c.direction == "out")
    )
    assert turns[0][0] == 1
    # the one turn answered everything: nothing is left pending
    contact = rows(store, select(contacts.c.id).where(contacts.c.external_id == "b"))[0][0]
    assert store.load_state(contact, 20).pending == ()


async def test_a_crashed_lease_holder_blocks_only_until_expiry(
    store: Store, make_engine, clock: Clock
) -> None:
    rec = store.record_inbound(text_inbound("l", "first"), clock.now, timedelta(seconds=30), None)
    assert store.claim_lease(rec.contact_id, "crashed-process", clock.now, timedelta(seconds=1))
    engine = make_engine(budget=3)
    busy = await engine.handle(text_inbound("l", "second", clock.now))
    assert busy.reason is Reason.BUSY  # the wall clock of the engine never reaches expiry
    clock.advance(seconds=2)
    decision = await engine.handle(text_inbound("l", "third", clock.now))
    assert decision.should_send


async def test_reactivation_when_the_persona_allows_it(
    store: Store, make_engine, clock: Clock
) -> None:
    persona = PERSONA.model_copy(
        update={
            "reactivate_after_days": 30,
            "stages": [PERSONA.stages[0].model_copy(update={"max_replies": 1})],
        }
    )
    engine = make_engine(persona=persona)
    assert (await engine.handle(text_inbound("r", "hi", clock.now))).action is Action.SEND
    assert (await engine.handle(text_inbound("r", "so?", clock.now))).action is Action.EXIT
    clock.advance(days=29)
    assert (await engine.handle(text_inbound("r", "hey", clock.now))).reason is Reason.STOPPED
    clock.advance(days=2)
    again = await engine.handle(text_inbound("r", "hey it's me again", clock.now))
    assert (again.action, again.stage) == (Action.SEND, "cold")


async def test_the_anomaly_guard_pauses_the_account(
    store: Store, make_engine, clock: Clock
) -> None:
    guard = GuardConfig(window=timedelta(minutes=10), min_decisions=4, max_error_share=0.5)
    healthy = make_engine(guard=guard)
    failing = make_engine(FailingBrain(), guard=guard)
    for i in range(2):
        assert (await healthy.handle(text_inbound(f"g{i}", "hi there", clock.now))).should_send
    for i in range(2):
        await failing.handle(text_inbound(f"f{i}", "hello", clock.now))
    control = store.control()
    assert control.paused and control.changed_by == "guard"
    assert control.reason == "anomaly guard: 2 of 4 decisions in 10 min were errors or timeouts"
    after = await healthy.handle(text_inbound("g9", "anyone?", clock.now))
    assert after.reason is Reason.PAUSED
    # outside the window the old errors no longer count
    store.set_paused(False, None, "test", clock.now)
    clock.advance(minutes=11)
    await failing.handle(text_inbound("f9", "hello", clock.now))
    assert not store.control().paused
