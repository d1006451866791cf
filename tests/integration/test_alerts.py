"""Alerts through the real engine, store, worker chore and senders, against a fake webhook
and a fake SMTP server on loopback. Time is an injected clock: the chore runs when told
(`Worker.run_chores`), nothing waits for an interval.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from contract.driver import Driver
from dmpilot.bootstrap import bootstrap
from dmpilot.brains import (
    BrainReply,
    BrainRequest,
    ProbeResult,
    ProbeStatus,
    ScriptedBrain,
)
from dmpilot.channels.manychat_api import ManyChatSender
from dmpilot.cli.serve import _record_probe_failure
from dmpilot.domain.commands import HandBack, Pause, Resume
from dmpilot.domain.contacts import ContactRef
from dmpilot.domain.decision import Reason
from dmpilot.domain.delivery import DeliveryMode, RetryPolicy
from dmpilot.domain.guard import GuardConfig
from dmpilot.domain.inbound import Inbound, InboundKind
from dmpilot.store import Store
from dmpilot.store.alerts import AlertBook, AlertRow
from dmpilot.store.schema import events
from dmpilot.worker import Worker
from fakes.alert_receivers import FakeSMTP, FakeWebhook
from fakes.manychat_api import FakeManyChat
from support import (
    Build,
    EngineHarness,
    FailingBrain,
    FakeClock,
    build_engine,
    engine_config,
    settings_for,
    text_inbound,
)

PUBLIC_URL = "https://dm.example.com"


class CostlyBrain(ScriptedBrain):
    """The scripted brain, reporting a million input tokens per draft (US$ 0.10 at the
    default model's prices)."""

    name = "costly"

    async def generate(self, request: BrainRequest) -> BrainReply:
        reply = await super().generate(request)
        return BrainReply(reply.text, "claude-haiku-5-5", input_tokens=1_000_000)


@pytest.fixture
def build(store: Store, clock: FakeClock, hook: FakeWebhook) -> Build:
    """An engine and its worker by bootstrap, alerts to the fake webhook; `settings`
    override the alert settings, `config` the engine's."""

    def make(
        brain: Any = None,
        senders: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        on: Store | None = None,
        **settings: Any,
    ) -> tuple[EngineHarness, Worker]:
        values: dict[str, Any] = {
            "alert_webhook_url": hook.url,
            "alert_cooldown_minutes": 60,
            "alert_timeout_seconds": 2,
            "public_url": PUBLIC_URL,
        } | settings
        harness = build_engine(
            on or store,
            brain=brain,
            config=engine_config(**(config or {})),
            clock=clock,
            senders=senders,
            settings=values,
        )
        return harness, harness.system.worker

    return make


def rows(store: Store) -> list[AlertRow]:
    with store.reading() as reads:
        return AlertBook(reads.db).recent(100)


def alert_events(store: Store) -> list[tuple[str, str | None, dict[str, Any]]]:
    with store.reading() as reads:
        found = reads.db.execute(
            select(events.c.kind, events.c.reason, events.c.detail)
            .where(events.c.kind.in_(["alert_sent", "alert_failed"]))
            .order_by(events.c.id)
        ).all()
    return [(kind, reason, detail) for kind, reason, detail in found]


def named(contact: str, text: str, clock: FakeClock, username: str) -> Inbound:
    return Inbound(
        "manychat",
        contact,
        InboundKind.TEXT,
        text,
        clock.current,
        contact_name="Sam Doe",
        contact_username=username,
    )


async def test_a_guard_pause_reaches_the_webhook_once_per_incident(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    guard = GuardConfig(window=timedelta(minutes=10), min_decisions=3, max_error_share=0.5)
    engine, worker = build(brain=FailingBrain(), config={"guard": guard}, alert_brain_errors=99)
    for n in range(3):
        await engine.handle(text_inbound(f"g{n}", "my secret words", clock.current))
    assert await worker.run_chores() == {"alerts": 1}
    (text,) = hook.texts
    assert "the anomaly guard paused the account" in text and "3 of 3 decisions" in text
    assert text.endswith(f"{PUBLIC_URL}/console/overview")
    assert "secret words" not in text
    for _ in range(3):  # the same incident, checked again and again
        clock.advance(minutes=5)
        assert await worker.run_chores() == {"alerts": 0}
    assert len(hook.texts) == 1
    clock.advance(minutes=46)  # past the cool-down, still paused: one reminder
    assert await worker.run_chores() == {"alerts": 1}
    assert len(hook.texts) == 2
    (row,) = rows(store)
    assert (row.kind, row.count, row.outcome, row.resolved_at) == ("paused", 2, "sent", None)
    await engine.command(Resume("test"))
    clock.advance(minutes=1)
    assert await worker.run_chores() == {"alerts": 0}
    assert rows(store)[0].resolved_at == clock.current
    for n in range(3, 6):  # a new pause is a new incident: alerted at once
        clock.advance(seconds=1)
        await engine.handle(text_inbound(f"g{n}", "hello", clock.current))
    assert await worker.run_chores() == {"alerts": 1}
    assert len(hook.texts) == 3
    assert [kind for kind, _, _ in alert_events(store)] == ["alert_sent"] * 3


async def test_an_operators_own_pause_is_not_an_alert(
    build: Build, hook: FakeWebhook, clock: FakeClock
) -> None:
    engine, worker = build()
    await engine.command(Pause("lunch", "cli"))
    assert await worker.run_chores() == {"alerts": 0}
    assert hook.texts == []


async def test_checks_running_at_once_in_two_processes_send_one_alert(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store, database_url: str
) -> None:
    other = Store.open(database_url, pool_size=5)
    try:
        engine, first = build()
        _, second = build(on=other)
        for n in range(4):  # four incidents, each claimed by one of the two checks
            await engine.handle(
                named(f"h{n}", "can I talk to a real person?", clock, username=f"fan{n}")
            )
            results = await asyncio.gather(first.run_chores(), second.run_chores())
            assert sum(done["alerts"] for done in results) == 1
        named_in = [re.findall(r"@fan\d \(id:\d+\)", text) for text in hook.texts]
        assert sorted(named_in) == [[f"@fan{n} (id:{n + 1})"] for n in range(4)]
    finally:
        other.close()


async def test_a_contact_asking_for_a_person_is_named_and_never_quoted(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    decision = await engine.handle(
        named("501", "can I talk to a real person please, about my order", clock, "sam.photos")
    )
    assert decision.reason is Reason.HANDOFF
    assert await worker.run_chores() == {"alerts": 1}
    (text,) = hook.texts
    assert "@sam.photos (id:1) asked for a real person" in text
    assert text.endswith(f"{PUBLIC_URL}/console/contacts/1")
    assert "order" not in text and "please" not in text
    clock.advance(minutes=2)
    await engine.handle(named("501", "hello??", clock, "sam.photos"))  # still waiting
    assert await worker.run_chores() == {"alerts": 0}
    await engine.command(HandBack(ContactRef.parse("id:1"), "test"))
    assert await worker.run_chores() == {"alerts": 0}
    (row,) = rows(store)
    assert row.key == "human:1" and row.resolved_at is not None and row.contact_id == 1
    # The alert is an event on the contact's timeline.
    assert alert_events(store) == [
        ("alert_sent", "human", {"incident": "human:1", "target": "webhook", "error": None})
    ]


async def test_minor_stops_are_counted_never_quoted(
    build: Build, hook: FakeWebhook, clock: FakeClock
) -> None:
    engine, worker = build()
    await engine.handle(text_inbound("m1", "i'm 15 lol from lyon", clock.current))
    await engine.handle(text_inbound("m2", "I am 14", clock.current))
    assert await worker.run_chores() == {"alerts": 1}
    (text,) = hook.texts
    assert "2 contacts said they are under 18 in the last 24 h" in text
    assert "lyon" not in text and "14" not in text and "15" not in text
    clock.advance(minutes=10)
    await engine.handle(text_inbound("m3", "im 13", clock.current))
    assert await worker.run_chores() == {"alerts": 0}  # within the cool-down
    clock.advance(minutes=51)
    assert await worker.run_chores() == {"alerts": 1}  # then the count, once
    assert "3 contacts said they are under 18" in hook.texts[1]
    clock.advance(minutes=61)
    assert await worker.run_chores() == {"alerts": 0}  # nothing new: no reminder


def seed_inbound(store: Store, days: int, hours: range, clock: FakeClock) -> None:
    """One inbound message per hour in `hours` (UTC) on each of the `days` before today."""
    driver = Driver(store)
    today = clock.current.replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(days, 0, -1):
        for hour in hours:
            at = today - timedelta(days=day) + timedelta(hours=hour, minutes=30)
            driver.record(text_inbound(f"s{day}-{hour}", "hi", at), at)


async def test_silence_alerts_after_hours_of_usual_hours_not_after_a_quiet_night(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    _, worker = build(alert_silence_hours=6)
    start = clock.current.replace(hour=0, minute=0)
    seed_inbound(store, 5, range(9, 21), clock)  # 09:30 … 20:30 each day: usual 9–21 h
    clock.current = start + timedelta(hours=8)  # after the night: 30 usual minutes silent
    assert await worker.run_chores() == {"alerts": 0}
    clock.current = start + timedelta(hours=14, minutes=29)  # 5 h 59 min of usual hours
    assert await worker.run_chores() == {"alerts": 0}
    clock.current = start + timedelta(hours=14, minutes=30)
    assert await worker.run_chores() == {"alerts": 1}
    (text,) = hook.texts
    assert "for 6 h of the account's usual hours (9–21h UTC" in text
    assert "the last one arrived" in text and "20:30 UTC" in text
    Driver(store).record(text_inbound("back", "hey", clock.current), clock.current)
    assert await worker.run_chores() == {"alerts": 0}
    assert rows(store)[0].resolved_at == clock.current


async def test_a_fresh_install_never_alerts_about_silence(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    _, worker = build(alert_silence_hours=1)
    assert await worker.run_chores() == {"alerts": 0}  # no history at all
    seed_inbound(store, 2, range(0, 24), clock)  # two days: not yet a habit
    clock.advance(hours=20)
    assert await worker.run_chores() == {"alerts": 0}
    assert hook.texts == []


async def test_failed_and_unknown_deliveries_above_the_threshold_alert(
    build: Build,
    hook: FakeWebhook,
    clock: FakeClock,
    manychat: FakeManyChat,
    manychat_sender: ManyChatSender,
) -> None:
    engine, worker = build(
        senders={"manychat": manychat_sender},
        config={
            "delivery": DeliveryMode.PUSH,
            "send_retry": RetryPolicy(max_attempts=1, base_seconds=1, max_seconds=1),
            "min_send_gap": timedelta(0),
        },
        alert_delivery_failures=3,
    )
    manychat.reset(mode="status:400")
    for n in range(2):
        await engine.handle(text_inbound(f"d{n}", "hey! love your photos", clock.current))
    assert await worker.run_once() == (2, 0)
    assert await worker.run_chores() == {"alerts": 0}  # 2 failed: under the threshold
    await engine.handle(text_inbound("d2", "hey! love your photos", clock.current))
    assert await worker.run_once() == (1, 0)
    assert await worker.run_chores() == {"alerts": 1}
    (text,) = hook.texts
    assert "3 deliveries failed or ended unknown in the last 30 min (3 failed, 0 unknown" in text
    clock.advance(minutes=31)  # out of the window: the incident is over
    assert await worker.run_chores() == {"alerts": 0}


async def test_turns_failing_repeatedly_alert(
    build: Build, hook: FakeWebhook, clock: FakeClock
) -> None:
    engine, worker = build(brain=FailingBrain(), alert_brain_errors=3)
    for n in range(2):
        await engine.handle(text_inbound(f"e{n}", "hello", clock.current))
    assert await worker.run_chores() == {"alerts": 0}
    await engine.handle(text_inbound("e2", "hello", clock.current))
    assert await worker.run_chores() == {"alerts": 1}
    assert "3 turns failed in the last 30 min (3 errors, 0 timeouts" in hook.texts[0]


async def test_spend_over_the_daily_budget_alerts_once_a_day(
    build: Build, hook: FakeWebhook, clock: FakeClock
) -> None:
    engine, worker = build(brain=CostlyBrain(seed=1), alert_daily_budget_usd=0.25)
    for n in range(2):
        await engine.handle(text_inbound(f"p{n}", "hey! love your photos", clock.current))
    assert await worker.run_chores() == {"alerts": 0}  # US$ 0.20
    await engine.handle(text_inbound("p2", "hey! love your photos", clock.current))
    assert await worker.run_chores() == {"alerts": 1}
    assert (
        "model spend today (2026-11-01, UTC) is US$ 0.30, over the daily budget of US$ 0.25"
        in (hook.texts[0])
    )
    clock.advance(hours=13)  # the next UTC day starts at zero
    assert await worker.run_chores() == {"alerts": 0}


async def test_a_hanging_endpoint_never_holds_up_a_turn_and_the_alert_is_tried_again(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    engine, worker = build(alert_timeout_seconds=1)
    hook.reset(mode="hang")
    await engine.handle(text_inbound("k1", "I am 14", clock.current))
    check = asyncio.create_task(worker.run_chores())
    while not hook.requests:  # the alert is on its way and the endpoint holds it
        await asyncio.sleep(0.01)
    reply = await engine.handle(text_inbound("k2", "hey! love your photos", clock.current))
    assert reply.should_send and not check.done()
    assert await check == {"alerts": 1}
    ((kind, reason, detail),) = alert_events(store)
    assert (kind, reason, detail["target"]) == ("alert_failed", "minor", "webhook")
    assert "ReadTimeout" in detail["error"] and "fake-secret-path" not in detail["error"]
    assert rows(store)[0].outcome == "failed"
    hook.reset(mode="ok")
    clock.advance(minutes=4)
    assert await worker.run_chores() == {"alerts": 0}
    clock.advance(minutes=1)  # tried again after five minutes, not after the cool-down
    assert await worker.run_chores() == {"alerts": 1}
    assert len(hook.texts) == 1 and rows(store)[0].outcome == "sent"


async def test_a_refusing_endpoint_is_a_failed_alert_event(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    engine, worker = build()
    hook.reset(mode="status:500")
    await engine.handle(text_inbound("r1", "I am 14", clock.current))
    assert await worker.run_chores() == {"alerts": 1}
    ((kind, _, detail),) = alert_events(store)
    assert kind == "alert_failed"
    assert detail["error"] == "webhook answered 500: invalid_payload"
    reply = await engine.handle(text_inbound("r2", "hey! love your photos", clock.current))
    assert reply.should_send


async def test_email_alerts_reach_the_smtp_server_signed_in(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    with FakeSMTP(users={"ops": "s3cret-pass"}) as smtp:
        engine, worker = build(
            alert_smtp_host=smtp.host,
            alert_smtp_port=smtp.port,
            alert_smtp_user="ops",
            alert_smtp_password="s3cret-pass",
            alert_smtp_from="dmpilot <alerts@example.com>",
            alert_smtp_to="ops@example.com, owner@example.com",
            alert_smtp_starttls=False,
        )
        await engine.handle(text_inbound("x1", "I am 14, from Paris", clock.current))
        assert await worker.run_chores() == {"alerts": 1}
    (mail,) = smtp.messages
    assert mail.user == "ops"
    assert mail.recipients == ["ops@example.com", "owner@example.com"]
    assert mail.message["Subject"] == "[dmpilot · Lena] a minor was stopped"
    body = mail.message.get_content()
    assert "1 contact said they are under 18" in body and "Paris" not in body
    assert len(hook.texts) == 1  # and the webhook too
    assert sorted(detail["target"] for _, _, detail in alert_events(store)) == [
        "email",
        "webhook",
    ]


async def test_an_email_target_failing_beside_a_working_webhook_is_recorded(
    build: Build, hook: FakeWebhook, clock: FakeClock, store: Store
) -> None:
    with FakeSMTP() as smtp:
        engine, worker = build(
            alert_smtp_host=smtp.host,
            alert_smtp_port=smtp.port,
            alert_smtp_from="alerts@example.com",
            alert_smtp_to="ops@example.com",
            alert_smtp_starttls=True,  # this server offers no STARTTLS: refuse to send in clear
        )
        await engine.handle(text_inbound("y1", "I am 14", clock.current))
        assert await worker.run_chores() == {"alerts": 1}
    assert smtp.messages == []
    failed = [detail for kind, _, detail in alert_events(store) if kind == "alert_failed"]
    assert [d["target"] for d in failed] == ["email"]
    assert "STARTTLS extension not supported" in failed[0]["error"]
    assert rows(store)[0].outcome == "sent"  # the webhook took it


def test_a_brain_refused_at_start_alerts_before_serve_gives_up(
    store: Store, hook: FakeWebhook, clock: FakeClock
) -> None:
    system = bootstrap(
        settings_for(
            store.engine.url.render_as_string(hide_password=False), alert_webhook_url=hook.url
        ),
        store=store,
        clock=clock,
    )
    refused = ProbeResult(ProbeStatus.REFUSED, "Anthropic refused the API key (401)")
    _record_probe_failure(system, "anthropic", refused)
    (text,) = hook.texts
    assert "the anthropic brain failed its check at start (refused)" in text
    assert "Anthropic refused the API key (401); the server refused to start" in text
    _record_probe_failure(system, "anthropic", refused)  # a second start within the cool-down
    assert len(hook.texts) == 1


async def test_a_username_no_instagram_handle_could_be_is_left_out(
    build: Build, hook: FakeWebhook, clock: FakeClock
) -> None:
    """ManyChat's username is free text; chat apps read markup in what a webhook posts."""
    engine, worker = build()
    await engine.handle(named("601", "can I talk to a human?", clock, "<!channel> hi"))
    assert await worker.run_chores() == {"alerts": 1}
    (text,) = hook.texts
    assert "] a contact asks for a person: id:1 asked for a real person" in text
    assert "channel" not in text
