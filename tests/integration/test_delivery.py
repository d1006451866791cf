"""Push and hybrid delivery through the real engine, store and ManyChatSender, against a
fake ManyChat Public API on loopback. Time is an injected clock: nothing sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from dmpilot.brains import BrainError, BrainReply, BrainRequest, ScriptedBrain
from dmpilot.channels.manychat_api import ManyChatSender
from dmpilot.domain.decision import Action, Reason
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.personas import load_persona
from dmpilot.store import Store
from dmpilot.store.schema import deliveries, events
from dmpilot.worker import Worker
from fakes.manychat_api import FakeManyChat
from support import Build, EngineHarness, FakeClock, build_push_engine, pause, text_inbound

PERSONA = load_persona()


class FlakyBrain:
    """Fails the first `failures` drafts (a 529), then answers like the scripted brain."""

    name = "flaky"
    checks_broadcast = False

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.inner = ScriptedBrain(seed=3)

    async def generate(self, request: BrainRequest) -> BrainReply:
        self.calls += 1
        if self.calls <= self.failures:
            raise BrainError("APIStatusError: 529 overloaded")
        return await self.inner.generate(request)

    async def probe(self, timeout_seconds: float) -> Any:
        return await self.inner.probe(timeout_seconds)

    async def aclose(self) -> None: ...


class SlowBrain(FlakyBrain):
    def __init__(self, seconds: float) -> None:
        super().__init__(0)
        self.seconds = seconds

    async def generate(self, request: BrainRequest) -> BrainReply:
        await asyncio.sleep(self.seconds)
        return await self.inner.generate(request)


@pytest.fixture
def build(store: Store, clock: FakeClock, manychat_sender: ManyChatSender) -> Build:
    def make(
        mode: DeliveryMode = DeliveryMode.PUSH, brain: Any = None, persona: Any = PERSONA, **kw: Any
    ) -> tuple[EngineHarness, Worker]:
        return build_push_engine(
            store,
            clock=clock,
            senders={"manychat": manychat_sender},
            brain=brain,
            persona=persona,
            mode=mode,
            coalesce_seconds=kw.pop("coalesce", 2.0),
            reply_budget_seconds=kw.pop("budget", 5.0),
            **kw,
        )

    return make


def states(store: Store) -> list[str]:
    with store.reading() as reads:
        return [
            s for (s,) in reads.db.execute(select(deliveries.c.state).order_by(deliveries.c.id))
        ]


async def test_push_answers_queued_and_the_worker_sends_exactly_once(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    engine, worker = build()
    ack = await engine.handle(text_inbound("1001", "hey! love your photos", clock.current))
    assert (ack.should_send, ack.reason) == (False, Reason.QUEUED)
    assert await worker.run_once() == (0, 0)  # the coalesce window is still open
    clock.advance(seconds=2)
    assert await worker.run_once() == (1, 1)
    (text,) = manychat.delivered_texts("1001")
    assert text and manychat.sends[0]["subscriber_id"] == 1001
    assert await worker.run_once() == (0, 0)  # nothing is ever sent twice
    assert len(manychat.sends) == 1


async def test_a_burst_in_push_mode_gets_one_reply(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    engine, worker = build()
    for word in ("hey", "i love your feed", "where was the last photo taken?"):
        await engine.handle(text_inbound("1002", word, clock.current))
        clock.advance(seconds=1)
    clock.advance(seconds=2)
    assert await worker.run_once() == (1, 1)
    assert len(manychat.delivered_texts("1002")) == 1


async def test_pacing_holds_a_reply_for_minutes(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    persona = PERSONA.model_copy(update={"reply_delay_seconds": (120, 300)})
    engine, worker = build(persona=persona)
    await engine.handle(text_inbound("1003", "hi there", clock.current))
    clock.advance(seconds=3)
    assert await worker.run_once() == (1, 0)  # written, not yet due
    clock.advance(seconds=110)
    assert (await worker.run_once())[1] == 0
    clock.advance(seconds=200)
    assert (await worker.run_once())[1] == 1


async def test_a_model_error_is_retried_later_and_answered_once(
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
) -> None:
    brain = FlakyBrain(failures=1)
    engine, worker = build(brain=brain, turn_retry_seconds=30)
    await engine.handle(text_inbound("1004", "hello!", clock.current))
    clock.advance(seconds=3)
    assert await worker.run_once() == (1, 0)  # the turn failed: silence plus an event
    clock.advance(seconds=10)
    assert await worker.run_once() == (0, 0)  # not due again yet
    clock.advance(seconds=30)
    assert await worker.run_once() == (1, 1)
    assert len(manychat.delivered_texts("1004")) == 1
    with store.reading() as reads:
        reasons = reads.db.scalars(select(events.c.reason).where(events.c.kind == "skipped")).all()
    assert reasons == ["error"]


async def test_a_turn_that_keeps_failing_is_given_up(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    engine, worker = build(brain=FlakyBrain(failures=100), turn_retry_attempts=2)
    await engine.handle(text_inbound("1005", "hello!", clock.current))
    for _ in range(4):
        clock.advance(minutes=10)
        await worker.run_once()
    assert manychat.sends == []
    clock.advance(hours=1)
    assert await worker.run_once() == (0, 0)


async def test_rate_limited_sends_are_retried_and_sent_once(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    engine, worker = build()
    manychat.queue("status:429:7")
    await engine.handle(text_inbound("1006", "hi!", clock.current))
    clock.advance(seconds=2)
    assert await worker.run_once() == (1, 0)
    clock.advance(seconds=5)
    assert (await worker.run_once())[1] == 0  # Retry-After said 7 seconds
    clock.advance(seconds=3)
    assert (await worker.run_once())[1] == 1
    assert len(manychat.delivered_texts("1006")) == 1


async def test_an_ambiguous_send_is_unknown_and_never_repeated(
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
) -> None:
    engine, worker = build()
    manychat.queue("timeout")
    await engine.handle(text_inbound("1007", "hi!", clock.current))
    clock.advance(seconds=2)
    await worker.run_once()
    clock.advance(hours=1)
    await worker.run_once()
    assert len(manychat.send_requests()) == 1  # ManyChat got it once; dmpilot never resends
    assert states(store) == ["unknown"]


async def test_an_opt_out_cancels_the_queued_reply_and_only_the_goodbye_goes_out(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    persona = PERSONA.model_copy(update={"reply_delay_seconds": (600, 600)})
    engine, worker = build(persona=persona)
    await engine.handle(text_inbound("1008", "hey there", clock.current))
    clock.advance(seconds=3)
    assert await worker.run_once() == (1, 0)  # the reply waits ten minutes
    stop = await engine.handle(text_inbound("1008", "please stop messaging me", clock.current))
    assert stop.should_stop or stop.reason is Reason.QUEUED
    clock.advance(minutes=20)
    await worker.run_once()
    assert manychat.delivered_texts("1008") == [PERSONA.opt_out_goodbye["en"]]


async def test_a_minor_cancels_everything_queued(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    persona = PERSONA.model_copy(update={"reply_delay_seconds": (600, 600)})
    engine, worker = build(persona=persona)
    await engine.handle(text_inbound("1009", "hey there", clock.current))
    clock.advance(seconds=3)
    await worker.run_once()
    said = await engine.handle(text_inbound("1009", "i'm 15 btw", clock.current))
    assert said.action is Action.STOP
    clock.advance(hours=1)
    await worker.run_once()
    assert manychat.sends == []


async def test_the_kill_switch_cancels_queued_replies(
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
) -> None:
    persona = PERSONA.model_copy(update={"reply_delay_seconds": (60, 60)})
    engine, worker = build(persona=persona)
    await engine.handle(text_inbound("1010", "hi!", clock.current))
    clock.advance(seconds=3)
    await worker.run_once()
    pause(store, True, clock.current, "checking")
    clock.advance(minutes=2)
    await worker.run_once()
    assert manychat.sends == [] and states(store) == ["cancelled"]


async def test_the_24_hour_window_is_never_passed(
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
) -> None:
    persona = PERSONA.model_copy(update={"reply_delay_seconds": (3600, 3600)})
    engine, worker = build(persona=persona)
    await engine.handle(text_inbound("1011", "hi!", clock.current))
    clock.advance(seconds=3)
    await worker.run_once()
    clock.advance(hours=25)  # the worker was down for a day
    await worker.run_once()
    assert manychat.sends == [] and states(store) == ["cancelled"]


async def test_hybrid_answers_inline_when_the_turn_is_quick(
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
) -> None:
    engine, worker = build(DeliveryMode.HYBRID, coalesce=0.0, inline_seconds=2.0)
    decision = await engine.handle(text_inbound("1012", "hello!", clock.current))
    assert decision.should_send and decision.text
    await worker.run_once()
    assert manychat.sends == []
    with store.reading() as reads:
        (row,) = reads.db.execute(select(deliveries.c.state, deliveries.c.via)).all()
    assert (row.state, row.via) == ("sent", "response")


async def test_hybrid_defers_a_slow_turn_and_pushes_it_once(
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
) -> None:
    engine, worker = build(
        DeliveryMode.HYBRID, brain=SlowBrain(0.6), coalesce=0.0, inline_seconds=0.2
    )
    decision = await engine.handle(text_inbound("1013", "hello!", clock.current))
    assert (decision.should_send, decision.reason) == (False, Reason.DEFERRED)
    await engine.engine.drain()  # the turn goes on after the webhook answered
    await worker.run_once()
    assert len(manychat.delivered_texts("1013")) == 1
    clock.advance(hours=1)
    await worker.run_once()
    assert len(manychat.sends) == 1 and states(store) == ["sent"]
