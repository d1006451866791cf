"""The worker: runs the turns the engine owes (push delivery, retries of failed turns) and
sends what the outbox holds. `dmpilot serve` runs one in-process; `dmpilot worker` runs it
alone, to scale out. Several workers in several processes never send one delivery twice:
every claim is an atomic statement with an expiring lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from dmpilot.domain.commands import DeliveryDue, FollowUpDue, TurnDue
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.engine import DeliveryReport, Engine

log = logging.getLogger("dmpilot.worker")


@dataclass(frozen=True, slots=True)
class Chore:
    """Periodic housekeeping the worker runs beside turns and sends (alerts, retention).

    `run` returns how much it did. A chore must be safe when several processes run it at
    once (its own statements decide who acts), and a failing chore is logged and tried
    again at its next interval: it never stops turns or sends.
    """

    name: str
    every_seconds: float
    run: Callable[[], Awaitable[int]]


class Worker:
    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float = 0.5,
        concurrency: int = 8,
        chores: Sequence[Chore] = (),
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.chores = tuple(chores)
        self._stopping = asyncio.Event()
        self._work = asyncio.Event()  # set while there are turns to run
        self._tasks: list[asyncio.Task[None]] = []

    async def run_once(self) -> tuple[int, int]:
        """Run every due turn and send every due delivery, then return (turns, sends).

        Tests drive the worker with this and an injected clock: no sleeping, no waiting.
        """
        turns = sends = 0
        while await self.engine.handle(TurnDue()) is not None:
            turns += 1
        while await self.engine.handle(FollowUpDue()) is not None:  # nudges are turns too
            turns += 1
        while True:
            report = await self.engine.handle(DeliveryDue(limit=self.concurrency * 2))
            sends += report.sent
            if not report.claimed:
                break
        return turns, sends

    async def run_chores(self) -> dict[str, int]:
        """Run every chore once, now (tests, with an injected clock); {name: work done}."""
        return {chore.name: await chore.run() for chore in self.chores}

    def start(self, *, chores_only: bool = False) -> None:
        """Start the loops on the running event loop (the server's lifespan calls this).
        `chores_only`: no turns or sends (inline delivery queues nothing), only the chores."""
        self._stopping.clear()
        self._tasks = []
        if not chores_only:
            self._tasks = [asyncio.create_task(self._turns(n)) for n in range(self.concurrency)]
            self._tasks.append(asyncio.create_task(self._deliveries()))
        self._tasks.extend(asyncio.create_task(self._chore(chore)) for chore in self.chores)

    async def stop(self, timeout: float = 20.0) -> None:
        """Graceful: no new claims; turns and sends in flight finish (or time out, and
        their leases expire: an interrupted send becomes `unknown`, never a resend)."""
        self._stopping.set()
        self._work.set()  # wake the slots waiting for work, so they see the stop
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def run(self) -> None:
        """Run until `request_stop` (`dmpilot worker`: SIGTERM, SIGINT), then stop gracefully."""
        self.start()
        await self._stopping.wait()
        await self.stop()

    def request_stop(self) -> None:
        """Stop claiming; what is in flight finishes (safe to call from a signal handler)."""
        self._stopping.set()
        self._work.set()

    async def _turns(self, slot: int) -> None:
        """Slot 0 looks for due turns; the other slots sleep until it finds some, so an
        idle worker asks the database once per poll, not once per slot."""
        while not self._stopping.is_set():
            if slot and not self._work.is_set():
                await self._wait(self._work)
                continue
            try:
                busy = await self.engine.handle(TurnDue()) is not None
                # No message waits for an answer: a follow-up may be due.
                busy = busy or await self.engine.handle(FollowUpDue()) is not None
            except StoreUnavailable as exc:
                log.error("the database is not answering", extra={"error": str(exc)})
                busy = False
            if busy:
                self._work.set()
                continue
            self._work.clear()  # nothing due: back to one poll per interval
            if slot == 0:
                await self._wait(self._stopping)

    async def _deliveries(self) -> None:
        while not self._stopping.is_set():
            report: DeliveryReport | None = None
            try:
                report = await self.engine.handle(DeliveryDue(limit=self.concurrency * 2))
            except StoreUnavailable as exc:
                log.error("the database is not answering", extra={"error": str(exc)})
            if report is not None and report.rate_limited and not report.claimed:
                # The account's rate is used for this second: look again shortly, not in
                # a whole poll interval, so the rate is actually reached.
                await self._wait(self._stopping, 0.05)
            elif report is None or not report.claimed:
                await self._wait(self._stopping)

    async def _chore(self, chore: Chore) -> None:
        while not self._stopping.is_set():
            try:
                await chore.run()
            except Exception:  # a chore never takes the worker down
                log.exception("chore failed", extra={"chore": chore.name})
            await self._wait(self._stopping, chore.every_seconds)

    async def _wait(self, event: asyncio.Event, seconds: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds or self.poll_seconds)
