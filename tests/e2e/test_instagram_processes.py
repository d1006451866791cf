"""The Instagram channel through real `dmpilot serve` processes: Meta's signed webhooks over
HTTP, the in-process delivery worker answering through a fake Graph API on loopback, and the
echoes Meta sends back of every message the account sends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from dmpilot.store.database import create_db_engine
from fakes import meta_webhooks as meta
from fakes.graph_api import FakeGraphAPI
from support import Server, wait_until

WEBHOOK = "/webhooks/instagram"
WAIT = 30.0  # seconds any one condition may take on a slow CI machine


def instagram_env(database_url: str, graph: FakeGraphAPI) -> dict[str, str]:
    return {
        "DMPILOT_DATABASE_URL": database_url,
        "DMPILOT_META_APP_SECRET": meta.APP_SECRET,
        "DMPILOT_META_VERIFY_TOKEN": meta.VERIFY_TOKEN,
        "DMPILOT_META_ACCESS_TOKEN": meta.ACCESS_TOKEN,
        "DMPILOT_META_ACCOUNT_ID": meta.ACCOUNT_ID,
        "DMPILOT_META_GRAPH_URL": graph.url,
        "DMPILOT_META_TIMEOUT_SECONDS": "5",
        "DMPILOT_WORKER_POLL_SECONDS": "0.1",
        "DMPILOT_WORKER_CONCURRENCY": "2",
        "DMPILOT_POOL_SIZE": "3",
    }


class Database:
    """The server's database, read from outside its processes (one small connection)."""

    def __init__(self, url: str) -> None:
        self.engine = create_db_engine(url, pool_size=1)

    def rows(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        with self.engine.connect() as db:
            return [tuple(row) for row in db.execute(sa.text(sql), params)]

    def value(self, sql: str, **params: object) -> Any:
        with self.engine.connect() as db:
            return db.execute(sa.text(sql), params).scalar()

    def contact(self, external_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = (
                db.execute(
                    sa.text(
                        "SELECT * FROM contacts WHERE channel = 'instagram' AND external_id = :e"
                    ),
                    {"e": external_id},
                )
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def open_database() -> Iterator[Callable[[str], Database]]:
    opened: list[Database] = []

    def open_(url: str) -> Database:
        opened.append(Database(url))
        return opened[-1]

    yield open_
    for database in opened:
        database.close()


def post(server: Server, *items: dict[str, Any]) -> dict[str, Any]:
    """One signed POST, as Meta sends it; the answer must be a 200."""
    body = meta.batch(*items)
    response = httpx.post(server.url + WEBHOOK, content=body, headers=meta.signed(body), timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def delivery_states(db: Database, recipient: str) -> list[str]:
    return [
        state
        for (state,) in db.rows(
            "SELECT state FROM deliveries WHERE recipient = :r ORDER BY id", r=recipient
        )
    ]


class EchoBack:
    """The fake's `on_send`: Meta echoes every message the account sends to the webhook. Each
    echo is posted from its own thread (the hook runs in the fake's event loop, which must go
    on to answer the Send API call), carrying the message_id the fake returns."""

    def __init__(self, server: Server) -> None:
        self.url = server.url + WEBHOOK
        self.answers: list[tuple[str, int, Any]] = []  # (message_id, status, body)
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def __call__(self, record: dict[str, Any]) -> None:
        thread = threading.Thread(target=self._post, args=(record,), daemon=True)
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def _post(self, record: dict[str, Any]) -> None:
        mid = record["message_id"]
        body = meta.batch(meta.echo(record["recipient"], record["text"], mid))
        try:
            response = httpx.post(self.url, content=body, headers=meta.signed(body), timeout=30)
            outcome: tuple[str, int, Any] = (mid, response.status_code, response.text)
            if response.headers.get("content-type", "").startswith("application/json"):
                outcome = (mid, response.status_code, response.json())
        except httpx.HTTPError as exc:
            outcome = (mid, 0, repr(exc))
        with self.lock:
            self.answers.append(outcome)

    def posted(self) -> int:
        with self.lock:
            return len(self.answers)

    def join(self) -> None:
        with self.lock:
            threads = list(self.threads)
        for thread in threads:
            thread.join(timeout=WAIT)


# -- two instances, one database ------------------------------------------------------------


@pytest.mark.postgres
def test_one_mid_three_times_at_once_to_two_instances_is_stored_and_answered_once(
    start_server: Callable[..., Server],
    graph: FakeGraphAPI,
    postgres_url: str,
    open_database: Callable[[str], Database],
) -> None:
    env = instagram_env(postgres_url, graph)
    first, second = start_server(**env), start_server(**env)  # each runs its worker
    body = meta.batch(meta.message("ig-twice", "is this really you?", mid="mid.e2e.same"))
    headers = meta.signed(body)

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            targets = (first, second, first)
            return await asyncio.gather(
                *(client.post(s.url + WEBHOOK, content=body, headers=headers) for s in targets)
            )

    responses = asyncio.run(fire())
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    assert all(r.json()["received"] == 1 for r in responses)
    db = open_database(postgres_url)
    wait_until(lambda: delivery_states(db, "ig-twice") == ["sent"], WAIT, "the reply sent")
    # Nothing is left for either worker: no turn due, no second delivery.
    wait_until(
        lambda: (contact := db.contact("ig-twice")) is not None and contact["turn_due_at"] is None,
        WAIT,
        "no turn left due for the contact",
    )
    assert db.value("SELECT COUNT(*) FROM messages WHERE direction = 'in'") == 1
    assert db.value("SELECT COUNT(*) FROM turns") == 1
    assert db.rows("SELECT reason FROM events WHERE kind = 'skipped'") == [("duplicate",)] * 2
    assert delivery_states(db, "ig-twice") == ["sent"]
    assert len(graph.delivered_texts("ig-twice")) == 1
    (sent,) = graph.sends
    provider_id = db.value("SELECT provider_message_id FROM deliveries")
    assert provider_id == sent["message_id"]


# -- one instance on the embedded default -----------------------------------------------------


def test_a_dm_is_answered_once_and_the_echo_of_the_reply_is_ignored(
    start_server: Callable[..., Server],
    graph: FakeGraphAPI,
    tmp_path: Any,
    open_database: Callable[[str], Database],
) -> None:
    url = f"sqlite:///{tmp_path / 'instagram.db'}"
    server = start_server(**instagram_env(url, graph))
    echoes = EchoBack(server)
    graph.on_send = echoes
    db = open_database(url)

    assert post(server, meta.message("ig-echo", "hey, what do you do?")) == {
        "received": 1,
        "messages": 1,
    }
    wait_until(lambda: echoes.posted() == 1, WAIT, "the echo of the first reply posted back")
    wait_until(lambda: delivery_states(db, "ig-echo") == ["sent"], WAIT, "the reply recorded")
    (first,) = graph.sends
    assert echoes.answers == [(first["message_id"], 200, {"received": 1, "events": 1})]
    assert db.value("SELECT provider_message_id FROM deliveries") == first["message_id"]
    assert db.value("SELECT COUNT(*) FROM events WHERE kind = 'handoff'") == 0
    contact = db.contact("ig-echo")
    assert contact is not None
    assert (contact["handoff_until"], contact["handoff_reason"]) == (None, None)

    # the bot still has the conversation: the next DM is answered too, once
    post(server, meta.message("ig-echo", "cool, tell me more"))
    wait_until(lambda: echoes.posted() == 2, WAIT, "the echo of the second reply posted back")
    wait_until(lambda: delivery_states(db, "ig-echo") == ["sent", "sent"], WAIT, "the second reply")
    echoes.join()
    assert len(graph.delivered_texts("ig-echo")) == 2
    assert [status for _, status, _ in echoes.answers] == [200, 200]
    assert db.value("SELECT COUNT(*) FROM events WHERE kind = 'handoff'") == 0
    assert db.value("SELECT COUNT(*) FROM messages WHERE kind = 'human'") == 0


def test_a_human_echo_silences_the_bot_for_that_contact(
    start_server: Callable[..., Server],
    graph: FakeGraphAPI,
    tmp_path: Any,
    open_database: Callable[[str], Database],
) -> None:
    url = f"sqlite:///{tmp_path / 'instagram.db'}"
    server = start_server(**instagram_env(url, graph))
    db = open_database(url)
    post(server, meta.message("ig-human", "hello!"))
    wait_until(lambda: delivery_states(db, "ig-human") == ["sent"], WAIT, "the bot's reply")

    # the account's owner answers from the Instagram app: an echo of a mid dmpilot never sent
    human = meta.echo("ig-human", "Hey, it's Mia herself!", meta.new_mid())
    assert post(server, human) == {"received": 1, "events": 1}
    contact = db.contact("ig-human")
    assert contact is not None and contact["handoff_reason"] == "human_replied"

    post(server, meta.message("ig-human", "omg hi Mia!!", mid="mid.e2e.after-human"))
    dm_id = db.value("SELECT id FROM messages WHERE direction = 'in' AND text = 'omg hi Mia!!'")
    assert dm_id is not None
    wait_until(
        lambda: (
            db.value(
                "SELECT COUNT(*) FROM events WHERE kind = 'skipped' AND reason = 'handoff' "
                "AND message_id = :m",
                m=dm_id,
            )
            == 1
        ),
        WAIT,
        "the DM after the handoff to be skipped",
    )
    # The worker is alive and past that DM: a DM from someone else, sent after it, is answered.
    post(server, meta.message("ig-other", "hi, just wondering"))
    wait_until(lambda: delivery_states(db, "ig-other") == ["sent"], WAIT, "the other reply")
    assert len(graph.delivered_texts("ig-other")) == 1
    assert len(graph.delivered_texts("ig-human")) == 1  # only the bot's first reply
    assert delivery_states(db, "ig-human") == ["sent"]
    contact = db.contact("ig-human")
    assert contact is not None and contact["turn_due_at"] is None
