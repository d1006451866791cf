"""Push and hybrid delivery through real server and worker processes, the official
Anthropic SDK against a fake Messages API, and a fake ManyChat Public API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from contract.driver import Driver, turn_for
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from dmpilot.store.schema import deliveries
from fakes.anthropic_api import Behaviour, FakeAnthropic
from fakes.manychat_api import DEFAULT_KEY, FakeManyChat
from support import Server, WorkerProcess, auth, inbound, post_message, wait_until

KEY = DEFAULT_KEY


def delivery_env(database_url: str, manychat: FakeManyChat, **extra: str) -> dict[str, str]:
    return {
        "DMPILOT_DATABASE_URL": database_url,
        "DMPILOT_MANYCHAT_API_KEY": KEY,
        "DMPILOT_MANYCHAT_API_URL": manychat.url,
        "DMPILOT_WORKER_POLL_SECONDS": "0.1",
        "DMPILOT_LOG_LEVEL": "warning",
        **extra,
    }


def test_push_mode_delivers_a_slow_models_reply(
    start_server: Callable[..., Server],
    manychat: FakeManyChat,
    anthropic_fake: FakeAnthropic,
    database_url: str,
) -> None:
    """A 15-second model would miss ManyChat's window; in push mode the reply still arrives."""
    anthropic_fake.reset()
    anthropic_fake.queue(Behaviour("a reply worth waiting for, where are you from?", delay=15))
    server = start_server(
        **delivery_env(database_url, manychat, DMPILOT_DELIVERY="push"),
        DMPILOT_COALESCE_SECONDS="0.2",
        ANTHROPIC_API_KEY="sk-test",
        ANTHROPIC_BASE_URL=anthropic_fake.url,
    )
    ack = post_message(server, "2001", "hey! love your photos")
    assert (ack["should_send"], ack["reason"]) == (False, "queued")
    wait_until(lambda: len(manychat.sends) == 1, 60, "the pushed reply")
    assert manychat.delivered_texts("2001") == ["a reply worth waiting for, where are you from?"]


def test_push_mode_answers_once_after_a_model_error(
    start_server: Callable[..., Server],
    manychat: FakeManyChat,
    anthropic_fake: FakeAnthropic,
    database_url: str,
) -> None:
    anthropic_fake.reset()
    anthropic_fake.queue(Behaviour(status=529), Behaviour(status=529))  # both SDK attempts
    server = start_server(
        **delivery_env(database_url, manychat, DMPILOT_DELIVERY="push"),
        DMPILOT_COALESCE_SECONDS="0.2",
        DMPILOT_TURN_RETRY_SECONDS="1",
        ANTHROPIC_API_KEY="sk-test",
        ANTHROPIC_BASE_URL=anthropic_fake.url,
    )
    post_message(server, "2002", "hello there")
    wait_until(lambda: len(manychat.sends) == 1, 60, "the reply after the retry")
    post_message(server, "2002", "hello there")  # ManyChat's late copy: a duplicate
    wait_until(lambda: len(anthropic_fake.requests) >= 3, 10, "the recovered model call")
    store = Store.open(database_url, pool_size=1)
    try:
        with store.reading() as reads:
            reasons = reads.db.scalars(
                sa.text("SELECT reason FROM events WHERE kind = 'skipped' ORDER BY id")
            ).all()
    finally:
        store.close()
    assert reasons == ["error", "duplicate"]
    assert len(manychat.delivered_texts("2002")) == 1


def test_hybrid_answers_inline_when_ready_and_pushes_when_late(
    start_server: Callable[..., Server],
    manychat: FakeManyChat,
    anthropic_fake: FakeAnthropic,
    database_url: str,
) -> None:
    anthropic_fake.reset()
    server = start_server(
        **delivery_env(database_url, manychat),  # a key and no mode: hybrid is the default
        DMPILOT_COALESCE_SECONDS="0",
        DMPILOT_INLINE_SECONDS="4",
        ANTHROPIC_API_KEY="sk-test",
        ANTHROPIC_BASE_URL=anthropic_fake.url,
    )
    quick = post_message(server, "2003", "hey there")
    assert quick["should_send"] is True and quick["response"], quick
    anthropic_fake.queue(Behaviour("sorry for the wait, where do you travel next?", delay=7))
    late = post_message(server, "2004", "hey there")
    assert (late["should_send"], late["reason"]) == (False, "deferred")
    wait_until(lambda: len(manychat.sends) == 1, 30, "the deferred reply")
    assert manychat.delivered_texts("2004") == ["sorry for the wait, where do you travel next?"]
    assert manychat.delivered_texts("2003") == []  # answered in the response, never pushed


def _queue_deliveries(database_url: str, count: int) -> None:
    """`count` contacts, each with one committed reply waiting in the outbox."""
    store = Store.open(database_url, pool_size=2)
    db = Driver(store)
    now = utcnow()
    try:
        for i in range(count):
            rec = db.record(inbound(contact=str(5000 + i), text=f"message {i}", at=now), now)
            assert db.claim(rec.contact_id, "seed", now) is not None
            db.commit(turn_for(rec, "seed", now=now, text=f"reply number {i}"))
    finally:
        store.close()


def _states(database_url: str) -> dict[str, int]:
    store = Store.open(database_url, pool_size=1, run_migrations=False)
    try:
        with store.reading() as reads:
            rows = reads.db.execute(
                sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)
            ).all()
    finally:
        store.close()
    return {state: count for state, count in rows}


@pytest.mark.postgres
def test_three_workers_send_a_thousand_deliveries_exactly_once(
    tmp_path: Path, manychat: FakeManyChat, postgres_url: str
) -> None:
    _queue_deliveries(postgres_url, 1000)
    env = delivery_env(
        postgres_url,
        manychat,
        DMPILOT_DELIVERY="push",
        DMPILOT_SENDS_PER_SECOND="100",
        DMPILOT_WORKER_CONCURRENCY="4",
    )
    workers = [WorkerProcess(tmp_path, env, f"w{i}").start() for i in range(3)]
    try:
        # A generous bound against a hang, not a speed check (alone: ~25 s).
        try:
            wait_until(lambda: _states(postgres_url).get("sent") == 1000, 300, "1000 sends")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; deliveries: {_states(postgres_url)}") from exc
    finally:
        for worker in workers:
            worker.stop()
    texts = [send["text"] for send in manychat.sends]
    assert len(texts) == 1000 and len(set(texts)) == 1000
    assert _states(postgres_url) == {"sent": 1000}


@pytest.mark.postgres
def test_a_killed_worker_never_causes_a_second_send(
    tmp_path: Path, manychat: FakeManyChat, postgres_url: str
) -> None:
    _queue_deliveries(postgres_url, 300)
    manychat.reset(mode="slow:0.3")  # sends in flight when the worker dies
    env = delivery_env(
        postgres_url,
        manychat,
        DMPILOT_DELIVERY="push",
        DMPILOT_SENDS_PER_SECOND="100",
        DMPILOT_WORKER_CONCURRENCY="4",
        DMPILOT_MANYCHAT_TIMEOUT_SECONDS="2",
        DMPILOT_SEND_LEASE_SECONDS="3",
    )
    victim = WorkerProcess(tmp_path, env, "victim").start()
    survivors = [WorkerProcess(tmp_path, env, f"w{i}").start() for i in range(2)]
    try:
        wait_until(lambda: len(manychat.sends) >= 60, 60, "sends before the kill")
        victim.kill()
        wait_until(
            lambda: set(_states(postgres_url)) <= {"sent", "failed", "unknown", "cancelled"},
            120,
            "every delivery to reach a final state",
        )
    finally:
        victim.kill()
        for worker in survivors:
            worker.stop()
    per_subscriber: dict[object, int] = {}
    for send in manychat.sends:
        per_subscriber[send["subscriber_id"]] = per_subscriber.get(send["subscriber_id"], 0) + 1
    assert max(per_subscriber.values()) == 1, "a delivery was sent twice"
    states = _states(postgres_url)
    assert sum(states.values()) == 300 and states.get("sending", 0) == 0
    # what the dead worker had in flight is `unknown`: not resent, flagged for a human
    assert states["sent"] + states.get("unknown", 0) == 300
    assert states["sent"] <= len(manychat.sends) <= states["sent"] + states.get("unknown", 0)


@pytest.mark.postgres
def test_a_stopped_worker_finishes_what_it_was_sending(
    tmp_path: Path, manychat: FakeManyChat, postgres_url: str
) -> None:
    _queue_deliveries(postgres_url, 120)
    manychat.reset(mode="slow:0.5")
    env = delivery_env(
        postgres_url,
        manychat,
        DMPILOT_DELIVERY="push",
        DMPILOT_SENDS_PER_SECOND="100",
        DMPILOT_WORKER_CONCURRENCY="4",
    )
    worker = WorkerProcess(tmp_path, env).start()
    try:
        wait_until(lambda: len(manychat.sends) >= 16, 60, "sends before the stop")
        worker.stop()  # SIGTERM: no new claims, the sends in flight complete
        assert worker.process is not None and worker.process.returncode == 0, worker.log_text()
    finally:
        worker.kill()
    states = _states(postgres_url)
    assert states.get("sending", 0) == 0 and states.get("unknown", 0) == 0, states
    assert states["sent"] == len(manychat.sends) and states["sent"] + states["pending"] == 120
    assert "finishing the turns and sends in flight" in worker.log_text()


def test_metrics_show_the_outbox(
    start_server: Callable[..., Server], manychat: FakeManyChat, tmp_path: Path
) -> None:
    server = start_server(
        **delivery_env(f"sqlite:///{tmp_path / 'm.db'}", manychat, DMPILOT_DELIVERY="push"),
        DMPILOT_COALESCE_SECONDS="0",
    )
    post_message(server, "2101", "hello!")
    wait_until(lambda: len(manychat.sends) == 1, 30, "the pushed reply")

    def scrape() -> str:
        return httpx.get(f"{server.url}/metrics", headers=auth(), timeout=10).text

    # ManyChat has the message a moment before the worker records it as sent.
    sent = 'dmpilot_outbox_deliveries{state="sent"} 1.0'
    wait_until(lambda: sent in scrape(), 30, "the delivery recorded as sent")
    metrics = scrape()
    assert 'dmpilot_outbox_deliveries{state="pending"} 0.0' in metrics
    assert "dmpilot_outbox_oldest_pending_seconds 0.0" in metrics
    assert 'dmpilot_deliveries_total{state="sent"} 1.0' in metrics
