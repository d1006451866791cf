"""Follow-up nudges through the real engine, store (SQLite and PostgreSQL), worker and
ManyChatSender against a fake ManyChat API. Time is an injected clock: nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dmpilot.audit import Finding, run_audit
from dmpilot.brains import BrainError, BrainReply, BrainRequest, ScriptedBrain
from dmpilot.channels.manychat_api import ManyChatSender
from dmpilot.domain.commands import (
    FollowUpDue,
    MarkConverted,
    RecordClick,
    ResetContact,
    StopContact,
    TakeOver,
)
from dmpilot.domain.contacts import ContactRef
from dmpilot.domain.delivery import CancelReason, DeliveryMode
from dmpilot.domain.follow_ups import FollowUpCancel, FollowUpState, NudgeOutcome
from dmpilot.domain.persona import Persona
from dmpilot.domain.prompt import Purpose
from dmpilot.personas import load_persona
from dmpilot.store import Store
from dmpilot.store.reads.console import MessageEntry
from dmpilot.store.schema import contacts, deliveries, events, follow_ups, link_tokens, turns
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

EXAMPLE = load_persona()
# Every stage nudges after 20 hours, so one message and its reply make a quiet contact.
NUDGING = EXAMPLE.model_copy(
    update={"stages": [s.model_copy(update={"follow_up_hours": 20.0}) for s in EXAMPLE.stages]}
)
NUDGE_LINES = set(EXAMPLE.nudge_lines["en"])


class NudgeBrain:
    """The scripted brain for replies; nudges fail (`error`) or come back broken (`text`)."""

    name = "nudge-test"
    checks_broadcast = False

    def __init__(self, *, error: bool = False, text: str = "") -> None:
        self.inner = ScriptedBrain(seed=2)
        self.error = error
        self.text = text
        self.nudge_calls = 0

    async def generate(self, request: BrainRequest) -> BrainReply:
        if request.purpose is not Purpose.NUDGE:
            return await self.inner.generate(request)
        self.nudge_calls += 1
        if self.error:
            raise BrainError("APIStatusError: 529 overloaded")
        return BrainReply(text=self.text, model="nudge-test")

    async def probe(self, timeout_seconds: float) -> Any:
        return await self.inner.probe(timeout_seconds)

    async def aclose(self) -> None: ...


@pytest.fixture
def build(store: Store, clock: FakeClock, manychat_sender: ManyChatSender) -> Build:
    def make(
        mode: DeliveryMode = DeliveryMode.PUSH,
        persona: Persona = NUDGING,
        brain: Any = None,
        senders: dict[str, Any] | None = None,
    ) -> tuple[EngineHarness, Worker]:
        return build_push_engine(
            store,
            clock=clock,
            senders={"manychat": manychat_sender} if senders is None else senders,
            brain=brain,
            persona=persona,
            mode=mode,
        )

    return make


async def reply_to(
    engine: EngineHarness, worker: Worker, clock: FakeClock, subscriber: str, text: str = "hey!"
) -> None:
    """The contact writes; the worker answers and sends the reply."""
    await engine.handle(text_inbound(subscriber, f"{text} love your photos", clock.current))
    await worker.run_once()


async def reply_then_nudge(
    engine: EngineHarness, worker: Worker, clock: FakeClock, subscriber: str
) -> None:
    """The contact writes and is answered, then stays quiet just past NUDGING's 20 hours,
    when the worker runs once more: the follow-up is due."""
    await reply_to(engine, worker, clock, subscriber)
    clock.advance(hours=20, seconds=1)
    await worker.run_once()


def rows(store: Store, query: Any) -> list[Any]:
    with store.reading() as reads:
        return list(reads.db.execute(query).all())


def contact_id(store: Store, subscriber: str) -> int:
    (row,) = rows(store, select(contacts.c.id).where(contacts.c.external_id == subscriber))
    return int(row.id)


def follow_up(store: Store, subscriber: str) -> Any:
    found = rows(
        store, select(follow_ups).where(follow_ups.c.contact_id == contact_id(store, subscriber))
    )
    return found[0] if found else None


def cancels(store: Store) -> list[tuple[str | None, Any]]:
    """(reason, detail) of every follow_up_cancelled event, oldest first."""
    query = (
        select(events.c.reason, events.c.detail)
        .where(events.c.kind == "follow_up_cancelled")
        .order_by(events.c.id)
    )
    return [(row.reason, row.detail) for row in rows(store, query)]


def delivery_kinds(store: Store, subscriber: str) -> list[tuple[str, str]]:
    query = (
        select(deliveries.c.kind, deliveries.c.state)
        .where(deliveries.c.recipient == subscriber)
        .order_by(deliveries.c.id)
    )
    return [(row.kind, row.state) for row in rows(store, query)]


def ref(subscriber: str) -> ContactRef:
    return ContactRef.parse(subscriber)


# -- the nudge ---------------------------------------------------------------------------


async def test_a_quiet_contact_gets_exactly_one_nudge_at_the_due_time(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await reply_to(engine, worker, clock, "1001")
    (reply,) = manychat.delivered_texts("1001")
    scheduled = follow_up(store, "1001")
    assert scheduled.state == FollowUpState.PENDING
    assert scheduled.due_at == clock.current + timedelta(hours=20)

    clock.advance(hours=20, seconds=-1)
    assert await worker.run_once() == (0, 0)  # not due yet
    clock.advance(seconds=1)
    assert await worker.run_once() == (1, 1)
    first, nudge = manychat.delivered_texts("1001")
    assert first == reply and nudge in NUDGE_LINES
    for hours in (1, 2, 3):  # and never again
        clock.advance(hours=hours)
        assert await worker.run_once() == (0, 0)
    assert len(manychat.sends) == 2
    assert follow_up(store, "1001").state == FollowUpState.SENT
    assert delivery_kinds(store, "1001") == [("reply", "sent"), ("nudge", "sent")]
    triggers = [row.trigger for row in rows(store, select(turns.c.trigger).order_by(turns.c.id))]
    assert triggers[1] == f"nudge:{scheduled.reply_id}"
    sent = rows(store, select(events.c.detail).where(events.c.kind == "sent").order_by(events.c.id))
    assert sent[0].detail["follow_up_at"] == scheduled.due_at.isoformat(timespec="seconds")
    assert sent[1].detail["follows"] == scheduled.reply_id


async def test_the_console_shows_the_nudge_as_an_outbound_message_of_its_kind(
    build: Build, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await reply_then_nudge(engine, worker, clock, "1051")
    with store.reading() as reads:
        page = reads.console_timeline(contact_id(store, "1051"))
    outbound = [e for e in page.entries if isinstance(e, MessageEntry) and e.direction == "out"]
    assert [(e.kind, e.delivery_state) for e in outbound] == [("reply", "sent"), ("nudge", "sent")]
    nudge = outbound[1]
    assert nudge.decision is not None and "follows" in nudge.decision  # its decision, folded


async def test_three_workers_at_once_send_each_nudge_once(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, first = build()
    subscribers = [str(1100 + i) for i in range(6)]
    for subscriber in subscribers:
        await reply_to(engine, first, clock, subscriber)
    workers = [first] + [build()[1] for _ in range(2)]
    clock.advance(hours=20, seconds=1)
    results = await asyncio.gather(*(worker.run_once() for worker in workers))
    assert sum(turns_run for turns_run, _ in results) == len(subscribers)
    for subscriber in subscribers:
        assert len(manychat.delivered_texts(subscriber)) == 2, subscriber
    assert len(manychat.sends) == 2 * len(subscribers)


async def test_the_model_writes_the_nudge_from_the_guidance_seeing_the_unanswered_reply(
    build: Build, manychat: FakeManyChat, clock: FakeClock
) -> None:
    brain = RecordingBrain()
    engine, worker = build(brain=brain)
    await reply_to(engine, worker, clock, "1201")
    (reply,) = manychat.delivered_texts("1201")
    clock.advance(hours=21)
    await worker.run_once()
    request = brain.requests[-1]
    assert request.purpose is Purpose.NUDGE and not request.link_allowed
    assert f"Your last message, still unanswered: {reply}" in request.prompt.turn_block
    assert "## The follow-up" in request.prompt.persona_block
    assert NUDGING.nudge_guidance.strip() in request.prompt.persona_block
    assert request.prompt.transcript[-1][0] == "user"  # their message, our reply not repeated
    assert len(manychat.delivered_texts("1201")) == 2


async def test_only_stages_that_ask_for_it_schedule_a_follow_up(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    """The bundled persona nudges after warm, hot and pitched replies, never after cold."""
    engine, worker = build(persona=EXAMPLE)
    for i in range(3):
        await reply_to(engine, worker, clock, "1301", f"message {i}")
        clock.advance(minutes=5)
    assert follow_up(store, "1301") is None  # three cold replies
    await reply_to(engine, worker, clock, "1301", "i shoot mostly with my phone")
    assert follow_up(store, "1301").stage == "warm"
    clock.advance(hours=20, seconds=1)
    await worker.run_once()
    assert len(manychat.delivered_texts("1301")) == 5


@pytest.mark.parametrize("sender", [True, False], ids=["with a sender", "without"])
async def test_inline_delivery_schedules_no_follow_up(
    sender: bool, build: Build, clock: FakeClock, store: Store
) -> None:
    """A nudge is pushed by the worker, which inline delivery does not run: none is owed."""
    engine, worker = build(mode=DeliveryMode.INLINE, senders=None if sender else {})
    decision = await engine.handle(text_inbound("1401", "hey! love your photos", clock.current))
    assert decision.should_send
    clock.advance(hours=21)
    assert await worker.run_once() == (0, 0)
    assert rows(store, select(follow_ups)) == []


async def test_a_hybrid_reply_sent_in_the_response_is_followed_up_through_the_api(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build(mode=DeliveryMode.HYBRID)
    decision = await engine.handle(text_inbound("1402", "hey! love your photos", clock.current))
    assert decision.should_send  # the reply left in the webhook's response
    clock.advance(hours=20, seconds=1)
    await worker.run_once()
    assert [kind for kind, _ in delivery_kinds(store, "1402")] == ["reply", "nudge"]
    (nudge,) = manychat.delivered_texts("1402")
    assert nudge in NUDGE_LINES


# -- cancellation ----------------------------------------------------------------------------


async def _contact_wrote(engine: EngineHarness, worker: Worker, clock: FakeClock) -> None:
    await engine.handle(text_inbound("2001", "sorry, i was busy", clock.current))
    await worker.run_once()  # answered: its reply schedules a follow-up of its own


async def _stopped(engine: EngineHarness, worker: Worker, clock: FakeClock) -> None:
    await engine.command(StopContact(ref("2001"), "alex"))


async def _handoff(engine: EngineHarness, worker: Worker, clock: FakeClock) -> None:
    await engine.command(TakeOver(ref("2001"), "alex"))


async def _converted(engine: EngineHarness, worker: Worker, clock: FakeClock) -> None:
    await engine.command(MarkConverted(ref("2001"), "alex"))


async def _link_clicked(engine: EngineHarness, worker: Worker, clock: FakeClock) -> None:
    store = engine.system.store
    with store.writing() as unit:
        unit.db.execute(
            link_tokens.insert().values(
                token="tok-2001",
                contact_id=contact_id(store, "2001"),
                message_id=0,
                stage="cold",
                created_at=clock.current,
            )
        )
    assert await engine.command(RecordClick("tok-2001", "Mozilla/5.0")) is True


async def _exited(engine: EngineHarness, worker: Worker, clock: FakeClock) -> None:
    """The funnel ended and started over since the reply: it belongs to an old cycle."""
    await engine.command(StopContact(ref("2001"), "alex"))
    await engine.command(ResetContact(ref("2001"), "alex"))


Setup = Callable[[EngineHarness, Worker, FakeClock], Any]
# (reason, what happens between the reply and the due time, cancelled at once?)
CANCELS: list[tuple[FollowUpCancel, Setup, bool]] = [
    (FollowUpCancel.CONTACT_WROTE, _contact_wrote, True),
    (FollowUpCancel.LINK_CLICKED, _link_clicked, True),
    (FollowUpCancel.HANDOFF, _handoff, True),
    (FollowUpCancel.STOPPED, _stopped, False),
    (FollowUpCancel.CONVERTED, _converted, False),
    (FollowUpCancel.EXITED, _exited, False),
]


@pytest.mark.parametrize(("why", "setup", "at_once"), CANCELS, ids=[c[0].value for c in CANCELS])
async def test_each_cancel_reason_cancels_the_follow_up_with_its_event(
    why: FollowUpCancel,
    setup: Setup,
    at_once: bool,
    build: Build,
    manychat: FakeManyChat,
    clock: FakeClock,
    store: Store,
) -> None:
    engine, worker = build()
    await reply_to(engine, worker, clock, "2001")
    reply_id = follow_up(store, "2001").reply_id
    clock.advance(hours=1)
    await setup(engine, worker, clock)
    sent_before = len(manychat.delivered_texts("2001"))
    assert [reason for reason, _ in cancels(store)] == ([why.value] if at_once else [])
    clock.advance(hours=19, seconds=1)  # the first reply's follow-up is due
    await worker.run_once()
    assert len(manychat.delivered_texts("2001")) == sent_before  # no nudge
    assert cancels(store)[0] == (why.value, {"follows": reply_id})
    assert all(kind != "nudge" for kind, _ in delivery_kinds(store, "2001"))


async def test_a_follow_up_due_while_paused_is_cancelled_not_postponed(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await reply_to(engine, worker, clock, "2101")
    clock.advance(hours=20, seconds=1)
    pause(store, True, clock.current)
    await worker.run_once()
    pause(store, False, clock.current)
    clock.advance(hours=1)
    await worker.run_once()
    assert len(manychat.delivered_texts("2101")) == 1
    assert [reason for reason, _ in cancels(store)] == [FollowUpCancel.PAUSED.value]
    assert follow_up(store, "2101").state == FollowUpState.CANCELLED


async def test_at_most_max_nudges_per_conversation(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await reply_then_nudge(engine, worker, clock, "2201")  # the one nudge
    clock.advance(hours=1)
    await reply_to(engine, worker, clock, "2201", "oh hi again!")  # answered, and replied to
    assert [reason for reason, _ in cancels(store)] == [FollowUpCancel.MAX_NUDGES.value]
    assert follow_up(store, "2201").state == FollowUpState.SENT  # nothing new is pending
    clock.advance(hours=21)
    await worker.run_once()
    kinds = [kind for kind, _ in delivery_kinds(store, "2201")]
    assert kinds == ["reply", "nudge", "reply"]
    with store.reading() as reads:
        stats = reads.raw_stats(None)
    assert (stats.nudges_sent, stats.nudges_answered) == (1, 1)


async def test_a_nudge_queued_when_the_contact_writes_is_withdrawn(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await reply_to(engine, worker, clock, "2301")
    clock.advance(hours=20, seconds=1)
    outcome = await engine.command(FollowUpDue())  # committed; its delivery not yet claimed
    assert isinstance(outcome, NudgeOutcome) and outcome.sent
    clock.advance(seconds=20)
    await engine.handle(text_inbound("2301", "oh hey, sorry!", clock.current))
    await worker.run_once()
    assert delivery_kinds(store, "2301") == [
        ("reply", "sent"),
        ("nudge", "cancelled"),
        ("reply", "sent"),
    ]
    (row,) = rows(store, select(deliveries.c.last_error).where(deliveries.c.kind == "nudge"))
    assert row.last_error == CancelReason.CONTACT_WROTE.value
    assert len(manychat.delivered_texts("2301")) == 2  # the two replies, never the nudge


async def test_the_audit_takes_a_nudge_for_a_follow_up_not_a_double_reply(
    build: Build, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await reply_then_nudge(engine, worker, clock, "2401")
    with store.reading() as reads:
        report = run_audit(reads, NUDGING, clock.current, links=engine.engine.links)
    assert report.totals[Finding.DOUBLE_REPLY] == 0


# -- the 24-hour window ---------------------------------------------------------------------


async def test_a_reply_too_late_for_a_nudge_inside_the_window_schedules_none(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("3001", "hey! love your photos", clock.current))
    clock.advance(hours=4)  # the worker was down: the reply goes out 4 hours late
    await worker.run_once()
    assert cancels(store) == [
        (FollowUpCancel.WINDOW.value, {"follows": _reply_id(store), "scheduled": False})
    ]
    assert follow_up(store, "3001") is None
    clock.advance(hours=21)
    await worker.run_once()
    assert len(manychat.delivered_texts("3001")) == 1


def _reply_id(store: Store) -> int:
    (row,) = rows(store, select(deliveries.c.message_id).where(deliveries.c.kind == "reply"))
    return int(row.message_id)


async def test_a_follow_up_found_too_late_is_cancelled_for_the_window(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    await reply_to(engine, worker, clock, "3101")
    clock.advance(hours=23, seconds=1)  # workers were down from before it was due
    await worker.run_once()
    assert len(manychat.delivered_texts("3101")) == 1
    assert [reason for reason, _ in cancels(store)] == [FollowUpCancel.WINDOW.value]


@pytest.mark.parametrize("late_minutes", [0, 30, 59, 61, 180])
async def test_no_nudge_ever_leaves_after_the_window_closes(
    late_minutes: int, build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    """At the longest setting (23 h), whatever the reply's delay and however the worker
    polls, every nudge is sent inside the 24 hours after the contact's message."""
    persona = NUDGING.model_copy(
        update={"stages": [s.model_copy(update={"follow_up_hours": 23.0}) for s in NUDGING.stages]}
    )
    engine, worker = build(persona=persona)
    wrote_at: datetime = clock.current
    await engine.handle(text_inbound("3201", "hey! love your photos", wrote_at))
    clock.advance(minutes=late_minutes)
    for _ in range(2 * 30):  # every 30 minutes for a day and a half
        await worker.run_once()
        clock.advance(minutes=30)
    sent = rows(
        store,
        select(deliveries.c.sent_at).where(
            deliveries.c.kind == "nudge", deliveries.c.state == "sent"
        ),
    )
    assert len(sent) <= 1
    assert all(row.sent_at <= wrote_at + timedelta(hours=24) for row in sent)
    assert (len(sent) == 1) == (late_minutes == 0)  # a late reply leaves no room for 23 h


# -- when the nudge cannot be written ---------------------------------------------------------


async def test_a_model_error_on_the_nudge_is_silence_plus_an_event(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    brain = NudgeBrain(error=True)
    engine, worker = build(brain=brain)
    await reply_to(engine, worker, clock, "4001")
    clock.advance(hours=20, seconds=1)
    assert await worker.run_once() == (1, 0)  # a decision, and nothing to send
    for _ in range(3):  # never retried: no storm
        clock.advance(hours=1)
        assert await worker.run_once() == (0, 0)
    assert brain.nudge_calls == 1
    assert len(manychat.delivered_texts("4001")) == 1  # no canned line either
    assert follow_up(store, "4001").state == FollowUpState.FAILED
    skipped = rows(
        store, select(events.c.reason, events.c.detail).where(events.c.kind == "skipped")
    )
    assert [row.reason for row in skipped] == ["error"]
    assert skipped[0].detail["follows"] == follow_up(store, "4001").reply_id
    assert "529" in skipped[0].detail["error"]


async def test_drafts_refused_by_every_check_give_way_to_the_persona_lines(
    build: Build, manychat: FakeManyChat, clock: FakeClock, store: Store
) -> None:
    brain = NudgeBrain(text="hey!! check out www.other-shop.com for a deal")
    engine, worker = build(brain=brain)
    await reply_then_nudge(engine, worker, clock, "4101")
    assert brain.nudge_calls == 3  # every draft refused (a foreign link)
    _, nudge = manychat.delivered_texts("4101")
    assert nudge in NUDGE_LINES
    _, sent = rows(store, select(events.c.detail).where(events.c.kind == "sent"))
    assert sent.detail["fallback"] == "nudge_lines"
    assert "foreign_url" in sent.detail["draft_violations"][0]
