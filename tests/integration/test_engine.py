"""The story of a turn through the real engine and store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import TypeVarTuple

import pytest
from sqlalchemy import Row, Select, func, select

from contract.driver import Driver
from dmpilot.brains import Brain, BrainReply, BrainRequest, ScriptedBrain
from dmpilot.domain.decision import Action, Decision, Reason
from dmpilot.domain.guard import GuardConfig
from dmpilot.domain.persona import Persona
from dmpilot.engine import EngineConfig
from dmpilot.personas import load_persona
from dmpilot.store import Store
from dmpilot.store.schema import contacts, events, messages
from support import (
    EngineHarness,
    FailingBrain,
    FakeClock,
    build_engine,
    control,
    engine_config,
    inbound,
    pause,
    text_inbound,
)

PERSONA = load_persona()
Ts = TypeVarTuple("Ts")


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
    return engine_config(coalesce_seconds=coalesce, reply_budget_seconds=budget, guard=guard)


@pytest.fixture
def make_engine(store: Store, clock: FakeClock) -> Iterator[Callable[..., EngineHarness]]:
    def build(
        brain: Brain | None = None,
        coalesce: float = 0.0,
        budget: float = 5.0,
        persona: Persona = PERSONA,
        guard: GuardConfig | None = None,
    ) -> EngineHarness:
        return build_engine(
            store,
            brain=brain or ScriptedBrain(seed=1),
            persona=persona,
            config=config(coalesce, budget, guard),
            clock=clock,
        )

    yield build


def rows(store: Store, query: Select[*Ts]) -> Sequence[Row[*Ts]]:
    with store.reading() as reads:
        db = reads.db
        return db.execute(query).all()


def skip_reasons(store: Store) -> list[str]:
    return [
        r.reason
        for r in rows(
            store, select(events.c.reason).where(events.c.kind == "skipped").order_by(events.c.id)
        )
    ]


async def test_a_whole_funnel_then_one_exit_then_silence_forever(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    engine = make_engine()
    stages = []
    for i in range(10):
        decision = await engine.handle(text_inbound("fan", f"message number {i}", clock.current))
        assert decision.action is Action.SEND, decision
        stages.append(decision.stage)
        clock.advance(minutes=1)
    assert stages == ["cold"] * 3 + ["warm"] * 3 + ["hot"] * 2 + ["pitched"] * 2
    goodbye = await engine.handle(text_inbound("fan", "and another", clock.current))
    assert goodbye.action is Action.EXIT and goodbye.should_stop and goodbye.should_send
    assert goodbye.text in PERSONA.exits["en"]
    for i in range(5):
        clock.advance(days=40)
        later = await engine.handle(text_inbound("fan", f"hello again {i}", clock.current))
        assert (later.should_send, later.reason, later.stage) == (False, Reason.STOPPED, "stopped")
    out = rows(store, select(messages.c.text, messages.c.kind).where(messages.c.direction == "out"))
    assert len(out) == 11 and [k for _, k in out].count("exit") == 1
    assert str(PERSONA.link.url) in " ".join(t for t, _ in out)
    assert sum(str(PERSONA.link.url) in t for t, _ in out) == PERSONA.link.budget
    inbound_count = rows(
        store, select(func.count()).select_from(messages).where(messages.c.direction == "in")
    )
    assert inbound_count[0][0] == 16  # every message stored, including after the stop


async def test_exit_in_the_contacts_language(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    persona = PERSONA.model_copy(
        update={"stages": [PERSONA.stages[0].model_copy(update={"max_replies": 1})]}
    )
    engine = make_engine(persona=persona)
    assert (
        await engine.handle(text_inbound("fr1", "salut ça va ?", clock.current))
    ).action is Action.SEND
    clock.advance(minutes=1)
    goodbye = await engine.handle(
        text_inbound("fr1", "merci, et toi tu fais quoi ?", clock.current)
    )
    assert goodbye.text in PERSONA.exits["fr"]


async def test_brain_errors_are_silence_plus_an_event(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    for brain, reason in [(FailingBrain(), Reason.ERROR), (CrashingBrain(), Reason.ERROR)]:
        decision = await make_engine(brain).handle(
            text_inbound("e", f"hi {reason} {brain}", clock.current)
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
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    decision = await make_engine(SlowBrain(), budget=0.5).handle(
        text_inbound("s", "hi", clock.current)
    )
    assert decision.reason is Reason.TIMEOUT and not decision.should_send


async def test_a_repeating_brain_is_silenced(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    engine = make_engine(ParrotBrain())
    sent = [await engine.handle(text_inbound("p", f"msg {i}", clock.current)) for i in range(5)]
    assert [d.should_send for d in sent] == [True, False, False, False, False]
    assert skip_reasons(store) == ["repetition"] * 4


async def test_pause_stores_but_does_not_answer(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    pause(store, True, clock.current, "checking a loop")
    decision = await make_engine().handle(text_inbound("q", "hi", clock.current))
    assert decision.reason is Reason.PAUSED
    pause(store, False, clock.current)
    assert (await make_engine().handle(text_inbound("q", "hi again", clock.current))).should_send
    assert (
        rows(store, select(func.count()).select_from(messages).where(messages.c.direction == "in"))[
            0
        ][0]
        == 2
    )


async def test_empty_message_is_answered_empty(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    decision = await make_engine().handle(inbound(contact="z", text="\ud800\x00"))
    assert (decision.should_send, decision.reason) == (False, Reason.EMPTY)
    assert rows(store, select(messages.c.kind))[0][0] == "empty"


async def test_concurrent_duplicates_get_one_reply(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    clock.real_sleep = True
    engine = make_engine(coalesce=0.2)
    decisions = await asyncio.gather(
        *(engine.handle(text_inbound("d", "same words", clock.current)) for _ in range(6))
    )
    assert [d.should_send for d in decisions].count(True) == 1
    assert sorted(d.reason or "" for d in decisions if not d.should_send) == ["duplicate"] * 5


async def test_a_burst_is_answered_once_by_the_latest(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    # Each part arrives once the previous one is stored and waiting out its coalesce
    # window, and no window ends before all four are in: the order is fixed, not timed.
    waiting = 0
    changed = asyncio.Condition()

    async def coalesce_sleep(seconds: float) -> None:
        nonlocal waiting
        async with changed:
            waiting += 1
            changed.notify_all()
            await changed.wait_for(lambda: waiting >= 4)
        clock.advance(seconds=seconds)

    clock.sleep = coalesce_sleep  # type: ignore[method-assign]
    engine = make_engine(coalesce=0.5)

    async def send(i: int) -> Decision:
        async with changed:
            await changed.wait_for(lambda: waiting >= i)
        return await engine.handle(text_inbound("b", f"part {i}", clock.current))

    decisions = await asyncio.gather(*(send(i) for i in range(4)))
    assert [d.should_send for d in decisions] == [False, False, False, True]
    assert [d.reason for d in decisions[:3]] == [Reason.COALESCED] * 3
    turns = rows(
        store, select(func.count()).select_from(messages).where(messages.c.direction == "out")
    )
    assert turns[0][0] == 1
    # the one turn answered everything: nothing is left pending
    contact = rows(store, select(contacts.c.id).where(contacts.c.external_id == "b"))[0][0]
    assert Driver(store).state(contact).pending == ()


async def test_a_crashed_lease_holder_blocks_only_until_expiry(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    driver = Driver(store)
    rec = driver.record(text_inbound("l", "first"), clock.current)
    crashed_lease = timedelta(hours=1)
    assert driver.claim(rec.contact_id, "crashed-process", clock.current, crashed_lease)
    engine = make_engine(budget=0.3)
    busy = await engine.handle(text_inbound("l", "second", clock.current))
    assert busy.reason is Reason.BUSY  # the turn's budget ran out long before the lease
    clock.advance(hours=1, seconds=1)
    decision = await engine.handle(text_inbound("l", "third", clock.current))
    assert decision.should_send


async def test_reactivation_when_the_persona_allows_it(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    persona = PERSONA.model_copy(
        update={
            "reactivate_after_days": 30,
            "stages": [PERSONA.stages[0].model_copy(update={"max_replies": 1})],
        }
    )
    engine = make_engine(persona=persona)
    assert (await engine.handle(text_inbound("r", "hi", clock.current))).action is Action.SEND
    assert (await engine.handle(text_inbound("r", "so?", clock.current))).action is Action.EXIT
    clock.advance(days=29)
    assert (await engine.handle(text_inbound("r", "hey", clock.current))).reason is Reason.STOPPED
    clock.advance(days=2)
    again = await engine.handle(text_inbound("r", "hey it's me again", clock.current))
    assert (again.action, again.stage) == (Action.SEND, "cold")


async def test_the_anomaly_guard_pauses_the_account(
    store: Store, make_engine: Callable[..., EngineHarness], clock: FakeClock
) -> None:
    guard = GuardConfig(window=timedelta(minutes=10), min_decisions=4, max_error_share=0.5)
    healthy = make_engine(guard=guard)
    failing = make_engine(FailingBrain(), guard=guard)
    for i in range(2):
        assert (await healthy.handle(text_inbound(f"g{i}", "hi there", clock.current))).should_send
    for i in range(2):
        await failing.handle(text_inbound(f"f{i}", "hello", clock.current))
    state = control(store)
    assert state.paused and state.changed_by == "guard"
    assert state.reason == "anomaly guard: 2 of 4 decisions in 10 min were errors or timeouts"
    after = await healthy.handle(text_inbound("g9", "anyone?", clock.current))
    assert after.reason is Reason.PAUSED
    # outside the window the old errors no longer count
    pause(store, False, clock.current)
    clock.advance(minutes=11)
    await failing.handle(text_inbound("f9", "hello", clock.current))
    assert not control(store).paused
