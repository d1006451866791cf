"""The webhook never lies about what was stored, and calls only true repeats duplicates.

The app runs in-process over a store that fails on command, so the failure lands exactly
between storing a message and deciding about it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from dmpilot.bootstrap import bootstrap
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.engine.core import Turn
from dmpilot.engine.receive import answer
from dmpilot.store import Store, WriteUnit
from dmpilot.store.schema import messages
from dmpilot.web.app import create_app
from support import FakeClock, build_engine, engine_config, settings_for, text_inbound

CONFIG = engine_config()


class FlakyStore(Store):
    """The real store, whose writes fail after `allowed` more of them succeed."""

    allowed: int | None = None

    @contextmanager
    def writing(self) -> Iterator[WriteUnit]:
        if self.allowed is not None:
            if self.allowed <= 0:
                raise StoreUnavailable("database: OperationalError: server closed the connection")
            self.allowed -= 1
        with super().writing() as unit:
            yield unit


@pytest.fixture
def flaky(store: Store) -> FlakyStore:
    return FlakyStore(store.engine)


@pytest.fixture
async def client(
    flaky: FlakyStore, clock: FakeClock, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    system = bootstrap(settings_for(database_url), store=flaky, clock=clock, config=CONFIG)
    app: FastAPI = create_app(system=system)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dmpilot") as http:
        yield http


BODY = {"subscriber": {"id": "3001"}, "last_input_text": "is anyone there?"}


def inbound_count(store: Store) -> int:
    with store.reading() as reads:
        return int(reads.db.scalar(select(func.count()).select_from(messages)) or 0)


async def test_a_failure_after_storing_is_not_a_503_and_the_retry_is_answered(
    client: httpx.AsyncClient, flaky: FlakyStore, clock: FakeClock
) -> None:
    # The message is stored, with the contact's lease taken in the same transaction; the
    # turn's commit, its error event and the lease's release all fail.
    flaky.allowed = 1
    first = await client.post("/webhooks/manychat", json=BODY)
    assert first.status_code == 200
    assert (first.json()["should_send"], first.json()["reason"]) == (False, "error")
    assert inbound_count(flaky) == 1
    # The database is back; ManyChat's retry arrives once the dead turn's lease expired.
    flaky.allowed = None
    clock.advance(seconds=CONFIG.lease.total_seconds() + 1)
    retry = await client.post("/webhooks/manychat", json=BODY)
    assert retry.status_code == 200 and retry.json()["should_send"] is True
    assert inbound_count(flaky) == 2  # the reply; the retry was not stored twice


async def test_a_503_means_nothing_was_stored(
    client: httpx.AsyncClient, flaky: FlakyStore, clock: FakeClock
) -> None:
    flaky.allowed = 0
    refused = await client.post("/webhooks/manychat", json=BODY)
    assert refused.status_code == 503 and "not stored" in refused.json()["error"]
    assert inbound_count(flaky) == 0
    flaky.allowed = None
    retry = await client.post("/webhooks/manychat", json=BODY)
    assert retry.status_code == 200 and retry.json()["should_send"] is True


async def test_a_message_answered_by_a_newer_turn_is_coalesced_not_duplicate(
    store: Store, clock: FakeClock
) -> None:
    harness = build_engine(store, config=CONFIG, clock=clock)
    engine = harness.engine
    # Request A stored its message and is still on its way to the lease…
    recorded = await engine.write(
        lambda unit: unit.inbox.record(
            text_inbound("3002", "first part"),
            clock.current,
            dedup_window=CONFIG.dedup_window,
            language=None,
        )
    )
    # …when request B's turn answers both messages.
    second = await harness.handle(text_inbound("3002", "second part", clock.current))
    assert second.should_send
    turn = Turn(
        contact_id=recorded.contact_id,
        subscriber="3002",
        message_id=recorded.message_id,
        started=clock.monotonic(),
        deadline=clock.monotonic() + 5,
        in_response=True,
        recorded=recorded,
    )
    late = await answer(engine, turn, opted_out=False)
    assert late.reason is not None and late.reason.value == "coalesced"
