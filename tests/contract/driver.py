"""A thin test driver over the store's units of work, so contract tests read as stories."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select

from dmpilot.domain.decision import ContactState, Reason
from dmpilot.domain.delivery import Claim, RetryPolicy, SendResult
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.turns import (
    AfterSkip,
    CommitKind,
    Committed,
    DeliveryPlan,
    Recorded,
    TurnCommit,
    inbound_trigger,
)
from dmpilot.store import Store
from support import T0

T = TypeVar("T")
WINDOW = timedelta(seconds=30)
TTL = timedelta(seconds=20)


def at_once(count: int, fn: Callable[[int], T]) -> list[T]:
    """Run fn(i) in `count` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


class Driver:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self,
        message: Inbound,
        now: datetime = T0,
        *,
        window: timedelta = WINDOW,
        language: str | None = None,
        safety_stop: Reason | None = None,
        schedule_at: datetime | None = None,
        settle: timedelta = timedelta(seconds=3),
    ) -> Recorded:
        with self.store.writing() as unit:
            return unit.inbox.record(
                message,
                now,
                dedup_window=window,
                language=language,
                safety_stop=safety_stop,
                schedule_at=schedule_at,
                settle=settle,
            )

    def decide(self, recorded: Recorded, reason: Reason = Reason.COALESCED) -> None:
        """Record a decision about a stored message (a skip)."""
        with self.store.writing() as unit:
            unit.turns.skip(
                T0,
                reason,
                AfterSkip.keep(),
                contact_id=recorded.contact_id,
                message_id=recorded.subject_id,
            )

    def claim(
        self, contact_id: int, owner: str, now: datetime = T0, ttl: timedelta = TTL
    ) -> ContactState | None:
        with self.store.writing() as unit:
            return unit.leases.claim_and_load(contact_id, owner, now, ttl, 20)

    def claim_due(self, owner: str, now: datetime, ttl: timedelta = TTL) -> ContactState | None:
        with self.store.writing() as unit:
            return unit.leases.claim_due_and_load(owner, now, ttl, 20)

    def release(self, contact_id: int, owner: str) -> None:
        with self.store.writing() as unit:
            unit.leases.release(contact_id, owner)

    def commit(self, turn: TurnCommit) -> Committed:
        with self.store.writing() as unit:
            return unit.turns.commit(turn)

    def state(self, contact_id: int) -> ContactState:
        with self.store.writing() as unit:
            return unit.leases.state(contact_id, 20)

    def claim_deliveries(
        self,
        now: datetime,
        owner: str = "w1",
        *,
        limit: int = 50,
        gap: timedelta = timedelta(0),
        per_second: int = 1000,
        ttl: timedelta = timedelta(seconds=60),
    ) -> Claim:
        with self.store.writing() as unit:
            return unit.outbox.claim(now, owner, ttl, limit, gap, per_second)

    def record_send(
        self,
        delivery_id: int,
        result: SendResult,
        now: datetime,
        owner: str = "w1",
        policy: RetryPolicy | None = None,
    ) -> Any:
        with self.store.writing() as unit:
            return unit.outbox.record(delivery_id, owner, result, now, policy or RetryPolicy(), 0.5)

    def count(self, table: Any, *where: Any) -> int:
        with self.store.reading() as reads:
            return reads.db.scalar(select(func.count()).select_from(table).where(*where)) or 0

    def rows(self, query: Any) -> list[Any]:
        with self.store.reading() as reads:
            return list(reads.db.execute(query).all())


def turn_for(
    recorded: Recorded,
    owner: str,
    *,
    now: datetime = T0,
    text: str = "hey there",
    kind: CommitKind = CommitKind.REPLY,
    in_response: bool = False,
    not_before: datetime | None = None,
    last_inbound_id: int | None = None,
    **extra: Any,
) -> TurnCommit:
    message_id = last_inbound_id if last_inbound_id is not None else recorded.message_id
    if message_id is None:
        raise ValueError("a turn answers a stored message")
    return TurnCommit(
        contact_id=recorded.contact_id,
        owner=owner,
        trigger=extra.pop("trigger", inbound_trigger(message_id)),
        last_inbound_id=message_id,
        stage="cold",
        text=text,
        language="en",
        now=now,
        delivery=DeliveryPlan("manychat", recorded.subscriber, not_before or now, in_response),
        kind=kind,
        **extra,
    )
