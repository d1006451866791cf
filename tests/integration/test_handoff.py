"""Human handoff and an operator's actions on one contact, through the real engine, store
(SQLite and PostgreSQL), worker and ManyChatSender against a fake ManyChat API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dmpilot.channels.manychat_api import ManyChatSender
from dmpilot.domain.commands import HandBack, ResetContact, SendAsHuman, StopContact, TakeOver
from dmpilot.domain.contacts import ActionOutcome, ContactRef, ContactStatus
from dmpilot.domain.decision import Action, Reason
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.personas import load_persona
from dmpilot.store import Store
from dmpilot.store.schema import contacts, deliveries, events, messages
from dmpilot.worker import Worker
from fakes.manychat_api import FakeManyChat
from support import (
    Build,
    EngineHarness,
    FakeClock,
    RecordingBrain,
    build_push_engine,
    pause,
    text_inbound,
)

PERSONA = load_persona()


@pytest.fixture
def brain() -> RecordingBrain:
    return RecordingBrain()


@pytest.fixture
def build(
    store: Store, clock: FakeClock, manychat_sender: ManyChatSender, brain: RecordingBrain
) -> Build:
    def make(mode: DeliveryMode = DeliveryMode.PUSH, **config: Any) -> tuple[EngineHarness, Worker]:
        return build_push_engine(
            store,
            clock=clock,
            senders={"manychat": manychat_sender},
            brain=brain,
            persona=PERSONA,
            mode=mode,
            **config,
        )

    return make


def ref(subscriber: str) -> ContactRef:
    return ContactRef.parse(subscriber)


def event_reasons(store: Store, kind: str) -> list[str | None]:
    with store.reading() as reads:
        return list(
            reads.db.scalars(
                select(events.c.reason).where(events.c.kind == kind).order_by(events.c.id)
            )
        )


async def drain(worker: Worker, clock: FakeClock, rounds: int = 3) -> None:
    for _ in range(rounds):
        clock.advance(seconds=5)
        await worker.run_once()


async def test_a_contact_taken_over_is_stored_and_never_answered_by_the_bot(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2001", "hey! love your photos", clock.current))
    await drain(worker, clock)
    assert len(manychat.delivered_texts("2001")) == 1
    taken = await engine.command(TakeOver(ref("2001"), "alex"))
    assert taken.outcome is ActionOutcome.DONE and taken.contact is not None
    assert taken.contact.status(clock.current) is ContactStatus.HANDOFF
    assert taken.contact.handoff_by == "alex"
    again = await engine.command(TakeOver(ref("2001"), "sam"))
    assert again.outcome is ActionOutcome.ALREADY

    decision = await engine.handle(text_inbound("2001", "are you still there?", clock.current))
    assert (decision.should_send, decision.reason) == (False, Reason.HANDOFF)
    await drain(worker, clock)
    assert len(manychat.delivered_texts("2001")) == 1  # the bot stayed silent
    assert event_reasons(store, "handoff") == ["operator"]
    assert Reason.HANDOFF.value in event_reasons(store, "skipped")
    with store.reading() as reads:
        stored = reads.db.scalars(
            select(messages.c.text).where(messages.c.direction == "in").order_by(messages.c.id)
        ).all()
    assert stored[-1] == "are you still there?"


async def test_taking_over_withdraws_the_reply_the_bot_had_queued(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    persona_slow = PERSONA.model_copy(update={"reply_delay_seconds": (300, 300)})
    engine, worker = build()
    engine.system.engine.persona = persona_slow
    await engine.handle(text_inbound("2002", "hi there", clock.current))
    clock.advance(seconds=1)
    await worker.run_once()  # the turn ran: its reply waits 5 minutes in the outbox
    with store.reading() as reads:
        assert reads.db.scalars(select(deliveries.c.state)).all() == ["pending"]
    await engine.command(TakeOver(ref("2002"), "alex"))
    clock.advance(minutes=10)
    await worker.run_once()
    assert manychat.delivered_texts("2002") == []
    with store.reading() as reads:
        row = reads.db.execute(select(deliveries.c.state, deliveries.c.last_error)).one()
    assert tuple(row) == ("cancelled", "handoff")


async def test_a_turn_in_flight_when_a_person_takes_over_is_fenced_off(
    build: Build, manychat: FakeManyChat, clock: FakeClock, brain: RecordingBrain, store: Store
) -> None:
    engine, _ = build(mode=DeliveryMode.INLINE)
    brain.gate = asyncio.Event()
    turn = asyncio.create_task(engine.handle(text_inbound("2003", "hello you", clock.current)))
    await asyncio.wait_for(brain.started.wait(), 5)
    await engine.command(TakeOver(ref("2003"), "alex"))
    brain.gate.set()
    decision = await turn
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.HANDOFF)
    with store.reading() as reads:
        assert (
            reads.db.scalars(select(messages.c.id).where(messages.c.direction == "out")).all() == []
        )


async def test_a_persons_message_is_sent_once_and_recorded_with_its_author(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2004", "hey there", clock.current))
    await drain(worker, clock)
    sent = await engine.command(
        SendAsHuman(ref("2004"), "alex", "  hi, Alex here \x00 \ud800 ", "k1")
    )
    assert sent.outcome is ActionOutcome.DONE and sent.delivery_id is not None
    assert sent.contact is not None and sent.contact.status(clock.current) is ContactStatus.HANDOFF
    again = await engine.command(SendAsHuman(ref("2004"), "alex", "hi, Alex here", "k1"))
    assert again.outcome is ActionOutcome.DUPLICATE
    await drain(worker, clock)
    texts = manychat.delivered_texts("2004")
    assert texts[-1] == "hi, Alex here" and texts.count("hi, Alex here") == 1
    with store.reading() as reads:
        row = reads.db.execute(
            select(messages.c.kind, messages.c.author).where(messages.c.text == "hi, Alex here")
        ).one()
    assert tuple(row) == ("human", "alex")
    assert event_reasons(store, "human_reply") == [None]


async def test_the_same_message_submitted_at_once_is_queued_once(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2005", "hello", clock.current))
    await drain(worker, clock)
    results = await asyncio.gather(
        *(engine.command(SendAsHuman(ref("2005"), "alex", "one moment", "same")) for _ in range(8))
    )
    outcomes = sorted(r.outcome.value for r in results if r.outcome is not None)
    assert outcomes == ["done"] + ["duplicate"] * 7
    await drain(worker, clock)
    assert manychat.delivered_texts("2005").count("one moment") == 1


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("opt_out", "stopped"),
        ("paused", "paused"),
        ("window", "24 hours"),
        ("empty", "empty"),
        ("long", "1000 bytes"),
        ("key", "key"),
    ],
)
async def test_a_persons_message_is_refused_with_the_reason(
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
    setup: str,
    expected: str,
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2006", "hi!", clock.current))
    await drain(worker, clock)
    text, key = "a person writing", "key-1"
    if setup == "opt_out":
        await engine.handle(text_inbound("2006", "stop messaging me", clock.current))
    elif setup == "paused":
        pause(store, True, clock.current)
    elif setup == "window":
        clock.advance(hours=25)
    elif setup == "empty":
        text = " \x00 "
    elif setup == "long":
        text = "é" * 501
    else:
        key = "bad key\n"
    await drain(worker, clock)  # the opt-out's goodbye goes out first
    before = len(manychat.sends)
    result = await engine.command(SendAsHuman(ref("2006"), "alex", text, key))
    assert result.outcome is ActionOutcome.REFUSED and result.detail is not None
    assert expected in result.detail
    await drain(worker, clock)
    assert len(manychat.sends) == before
    with store.reading() as reads:
        assert reads.db.scalars(select(messages.c.id).where(messages.c.kind == "human")).all() == []


async def test_inline_delivery_refuses_a_persons_message(build: Build, clock: FakeClock) -> None:
    engine, _ = build(mode=DeliveryMode.INLINE)
    await engine.handle(text_inbound("2007", "hi!", clock.current))
    result = await engine.command(SendAsHuman(ref("2007"), "alex", "hello from a person", "k"))
    assert result.outcome is ActionOutcome.REFUSED and "DMPILOT_MANYCHAT_API_KEY" in (
        result.detail or ""
    )
    missing = await engine.command(SendAsHuman(ref("nobody"), "alex", "hello", "k"))
    assert missing.contact is None


async def test_handing_back_resumes_the_bot_with_the_persons_messages_in_context(
    build: Build, manychat: FakeManyChat, clock: FakeClock, brain: RecordingBrain, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2008", "hey, nice photos", clock.current))
    await drain(worker, clock)
    await engine.command(SendAsHuman(ref("2008"), "alex", "thanks! Alex from the team here", "k"))
    await drain(worker, clock)
    back = await engine.command(HandBack(ref("2008"), "alex"))
    assert back.outcome is ActionOutcome.DONE and back.contact is not None
    assert back.contact.status(clock.current) is ContactStatus.ACTIVE
    assert (await engine.command(HandBack(ref("2008"), "alex"))).outcome is ActionOutcome.ALREADY
    await engine.handle(text_inbound("2008", "cool, where was the last one taken?", clock.current))
    await drain(worker, clock)
    assert len(manychat.delivered_texts("2008")) == 3
    said = [text for role, text in brain.requests[-1].prompt.transcript if role == "assistant"]
    assert "thanks! Alex from the team here" in "\n".join(said)
    assert event_reasons(store, "handback") == ["operator"]


async def test_asking_for_a_real_person_hands_the_contact_over(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2009", "hi", clock.current))
    await drain(worker, clock)
    decision = await engine.handle(
        text_inbound("2009", "can I talk to a real person please?", clock.current)
    )
    assert decision.reason is Reason.HANDOFF
    await drain(worker, clock)
    assert len(manychat.delivered_texts("2009")) == 1
    assert event_reasons(store, "handoff") == ["requested"]
    french = await engine.handle(
        text_inbound("2010", "je voudrais parler à un humain", clock.current)
    )
    assert french.reason is Reason.HANDOFF


async def test_a_handoff_ends_by_itself_after_its_hours(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build(handoff=timedelta(hours=2))
    await engine.handle(text_inbound("2011", "hello", clock.current))
    await drain(worker, clock)
    await engine.command(TakeOver(ref("2011"), "alex"))
    clock.advance(hours=1)
    held = await engine.handle(text_inbound("2011", "anyone?", clock.current))
    assert held.reason is Reason.HANDOFF
    clock.advance(hours=1, seconds=1)
    await engine.handle(text_inbound("2011", "hello again", clock.current))
    await drain(worker, clock)
    assert len(manychat.delivered_texts("2011")) == 2
    assert event_reasons(store, "handback") == ["expired"]


async def test_a_safety_stop_ends_a_handoff_and_fences_the_person_too(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2012", "hey", clock.current))
    await drain(worker, clock)
    await engine.command(SendAsHuman(ref("2012"), "alex", "hi, a person here", "a"))
    decision = await engine.handle(text_inbound("2012", "im 15 btw", clock.current))
    assert decision.reason is Reason.MINOR
    refused = await engine.command(SendAsHuman(ref("2012"), "alex", "one more thing", "b"))
    assert refused.outcome is ActionOutcome.REFUSED
    await drain(worker, clock)
    assert manychat.delivered_texts("2012") == manychat.delivered_texts("2012")[:1]
    with store.reading() as reads:
        row = reads.db.execute(
            select(contacts.c.stop_reason, contacts.c.handoff_until).where(
                contacts.c.external_id == "2012"
            )
        ).one()
    assert tuple(row) == ("minor", None)
    reset = await engine.command(ResetContact(ref("2012"), "alex"))
    assert reset.outcome is ActionOutcome.REFUSED and "under 18" in (reset.detail or "")


async def test_stop_cancels_what_was_queued_and_silences_the_contact(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("2013", "hello", clock.current))
    stopped = await engine.command(StopContact(ref("2013"), "alex"))
    assert stopped.outcome is ActionOutcome.DONE and stopped.contact is not None
    assert stopped.contact.status(clock.current) is ContactStatus.STOPPED
    assert (await engine.command(StopContact(ref("2013"), "alex"))).outcome is ActionOutcome.ALREADY
    await drain(worker, clock)
    later = await engine.handle(text_inbound("2013", "hello?", clock.current))
    await drain(worker, clock)
    assert later.reason is Reason.STOPPED and manychat.delivered_texts("2013") == []
    assert event_reasons(store, "stopped") == ["operator"]


async def test_reset_starts_a_completed_funnel_over_but_never_an_opt_out(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, _ = build(mode=DeliveryMode.INLINE)
    for i in range(11):
        await engine.handle(text_inbound("2014", f"message number {i}", clock.current))
        clock.advance(minutes=1)
    with store.reading() as reads:
        assert (
            reads.db.scalar(select(contacts.c.stop_reason).where(contacts.c.external_id == "2014"))
            == "cap"
        )
    reset = await engine.command(ResetContact(ref("2014"), "alex"))
    assert reset.outcome is ActionOutcome.DONE and reset.contact is not None
    assert reset.contact.status(clock.current) is ContactStatus.ACTIVE
    decision = await engine.handle(text_inbound("2014", "hi again", clock.current))
    assert decision.action is Action.SEND and decision.stage == PERSONA.stages[0].name
    again = await engine.command(ResetContact(ref("2014"), "alex"))
    assert again.outcome is ActionOutcome.ALREADY
    assert event_reasons(store, "reset") == ["cap"]

    await engine.handle(text_inbound("2015", "stop messaging me", clock.current))
    refused = await engine.command(ResetContact(ref("2015"), "alex"))
    assert refused.outcome is ActionOutcome.REFUSED and "asked to stop" in (refused.detail or "")
