"""Follow-up nudges through real server and worker processes (wall-clock time, so the
follow-up is seconds, not hours, away) and a fake ManyChat Public API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dmpilot.bootstrap import bootstrap
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.delivery import DeliveryMode, OutboundDelivery, SendResult
from dmpilot.personas import load_persona
from dmpilot.runtime import SystemRandom, utcnow
from fakes.manychat_api import DEFAULT_KEY, FakeManyChat
from support import (
    FakeClock,
    Server,
    WorkerProcess,
    engine_config,
    example_persona_data,
    post_message,
    query_database,
    run_cli,
    settings_for,
    text_inbound,
    wait_until,
    write_persona,
)

NUDGE_LINES = set(load_persona().nudge_lines["en"])
NUDGES_SENT = "SELECT count(*) FROM deliveries WHERE kind = 'nudge' AND state = 'sent'"


def persona_file(tmp_path: Path, hours: float) -> Path:
    """The bundled persona, every stage nudging after `hours`."""
    raw = example_persona_data()
    for stage in raw["stages"]:
        stage["follow_up_hours"] = hours
    return write_persona(tmp_path, raw)


def env_for(database_url: str, manychat: FakeManyChat, persona: Path) -> dict[str, str]:
    return {
        "DMPILOT_DATABASE_URL": database_url,
        "DMPILOT_PERSONA": str(persona),
        "DMPILOT_MANYCHAT_API_KEY": DEFAULT_KEY,
        "DMPILOT_MANYCHAT_API_URL": manychat.url,
        "DMPILOT_DELIVERY": "push",
        "DMPILOT_WORKER_POLL_SECONDS": "0.1",
        "DMPILOT_MIN_SEND_GAP_SECONDS": "0",
        "DMPILOT_LOG_LEVEL": "warning",
    }


def scalars(database_url: str, sql: str) -> list[Any]:
    return [row[0] for row in query_database(database_url, sql)]


def test_a_quiet_contact_is_nudged_once_through_the_real_server(
    start_server: Callable[..., Server],
    manychat: FakeManyChat,
    database_url: str,
    tmp_path: Path,
) -> None:
    persona = persona_file(tmp_path, hours=0.001)  # 3.6 seconds
    env = env_for(database_url, manychat, persona)
    server = start_server(**env)

    def post(text: str) -> None:
        answer = post_message(server, "7001", text)
        assert answer["reason"] == "queued", answer

    post("hey! love your photos")
    wait_until(lambda: len(manychat.sends) >= 2, 60, "the reply and then the nudge")
    reply, nudge = manychat.delivered_texts("7001")
    assert nudge in NUDGE_LINES and nudge != reply

    def stats() -> dict[str, Any]:
        result = run_cli(["stats", "--json"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        figures: dict[str, Any] = json.loads(result.stdout)
        return figures

    wait_until(lambda: stats()["nudges_sent"] == 1, 30, "the nudge recorded as sent")
    assert stats()["nudges_answered"] == 0
    post("oh hi, sorry, busy day")  # answered: its reply may not be nudged (max_nudges 1)
    wait_until(lambda: len(manychat.sends) == 3, 60, "the reply to the answer")
    assert stats()["nudges_answered"] == 1
    text = run_cli(["stats"], env, tmp_path).stdout
    assert "follow-ups: 1 nudges sent · 1 answered (100%)" in text
    reasons = scalars(database_url, "SELECT reason FROM events WHERE kind = 'follow_up_cancelled'")
    assert reasons == ["max_nudges"]
    assert len(manychat.delivered_texts("7001")) == 3


class _Refused:
    """The seeding engine's Sender: its replies leave in the webhook response, never here."""

    channel = "manychat"

    async def send(self, delivery: OutboundDelivery) -> SendResult:
        raise AssertionError("the seed answers in the response")

    async def aclose(self) -> None: ...


def _seed_quiet_contacts(database_url: str, persona: Path, count: int) -> list[str]:
    """`count` contacts answered 21 hours ago: each owes a nudge since an hour."""
    clock = FakeClock(utcnow() - timedelta(hours=21))
    system = bootstrap(
        settings_for(database_url),
        persona=load_persona(persona),
        clock=clock,
        random=SystemRandom(1),
        senders={"manychat": _Refused()},
        # Hybrid: each reply leaves in the webhook response, and its follow-up is owed to
        # the worker (inline delivery, which runs none, schedules no follow-ups).
        config=engine_config(delivery=DeliveryMode.HYBRID, daily_new_conversations=10_000),
    )
    subscribers = [str(8000 + i) for i in range(count)]

    async def seed() -> None:
        for subscriber in subscribers:
            message = text_inbound(subscriber, "hey! love your photos", clock.current)
            decision = await system.engine.handle(ReceiveMessage(message))
            assert decision.should_send, decision
        await system.aclose()

    asyncio.run(seed())
    return subscribers


@pytest.mark.postgres
def test_three_worker_processes_nudge_each_quiet_contact_exactly_once(
    tmp_path: Path, manychat: FakeManyChat, postgres_url: str
) -> None:
    persona = persona_file(tmp_path, hours=20)
    subscribers = _seed_quiet_contacts(postgres_url, persona, 60)
    env = env_for(postgres_url, manychat, persona) | {
        "DMPILOT_SENDS_PER_SECOND": "100",
        "DMPILOT_WORKER_CONCURRENCY": "4",
    }
    workers = [WorkerProcess(tmp_path, env, f"w{i}").start() for i in range(3)]
    try:
        wait_until(
            lambda: scalars(postgres_url, NUDGES_SENT) == [60],
            120,
            "60 nudges sent",
        )
    finally:
        for worker in workers:
            worker.stop()
    assert sorted(str(send["subscriber_id"]) for send in manychat.sends) == sorted(subscribers)
    assert all(send["text"] in NUDGE_LINES for send in manychat.sends)
    assert scalars(postgres_url, "SELECT DISTINCT state FROM follow_ups") == ["sent"]
    nudge_turns = "SELECT count(*) FROM turns WHERE trigger LIKE 'nudge:%'"
    assert scalars(postgres_url, nudge_turns) == [60]
    for worker in workers:
        assert "Traceback" not in worker.log_text(), worker.log_text()
