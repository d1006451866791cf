"""The engine: commands in, decisions out. `Engine.handle` dispatches each command to its
handler; the handlers tell the stories (receive.py, turn.py, deliver.py, operator.py).

Store work is short blocking transactions, run in worker threads so the event loop keeps
serving; waiting (coalesce window, lease polling) and model calls are async.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from anyio import to_thread

from dmpilot import metrics
from dmpilot.brains.base import Brain
from dmpilot.domain.channel_events import ChannelEventResult
from dmpilot.domain.commands import (
    DeliveryDue,
    FollowUpDue,
    ForgetContact,
    HandBack,
    MarkConverted,
    Pause,
    ReceiveMessage,
    RecordChannelEvent,
    RecordClick,
    RecoverInterrupted,
    ResetContact,
    Resume,
    SendAsHuman,
    StopContact,
    TakeOver,
    TurnDue,
)
from dmpilot.domain.contacts import ContactActionResult
from dmpilot.domain.control import ControlState
from dmpilot.domain.decision import Action, Decision, Reason
from dmpilot.domain.follow_ups import NudgeOutcome
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.guard import TRIGGERS, GuardConfig, verdict
from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.persona import Persona
from dmpilot.domain.ports import Clock, RandomSource, ReadModels, Sender, Storage, WritingUnit
from dmpilot.domain.privacy import ForgetResult
from dmpilot.domain.turns import AfterSkip, Recorded
from dmpilot.engine.compose import Composer
from dmpilot.engine.config import EngineConfig

if TYPE_CHECKING:
    from dmpilot.engine.operator import ConvertResult

log = logging.getLogger("dmpilot.engine")
T = TypeVar("T")

Command = (
    ReceiveMessage
    | RecordChannelEvent
    | TurnDue
    | FollowUpDue
    | DeliveryDue
    | Pause
    | Resume
    | MarkConverted
    | RecordClick
    | RecoverInterrupted
    | TakeOver
    | HandBack
    | SendAsHuman
    | StopContact
    | ResetContact
    | ForgetContact
)
ContactAction = TakeOver | HandBack | SendAsHuman | StopContact | ResetContact


@dataclass(slots=True)
class Turn:
    """What one turn knows while it works: who, which message, its deadline."""

    contact_id: int
    subscriber: str  # the contact's id on its channel, for logs operators can search
    message_id: int | None  # the newest inbound this turn answers
    started: float  # monotonic
    deadline: float  # monotonic
    in_response: bool  # inline delivery: the reply leaves in the webhook response
    recorded: Recorded | None = None  # set when a webhook started the turn
    repeat: bool = False  # a repeated delivery that took over an undecided message
    stage: str | None = None  # the contact's stage as it stands, reported with skips
    attempts: int = 0  # earlier failed attempts at this owed turn
    lease_released: bool = False  # a committed turn releases its lease in the same commit
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    cancelled: int = 0
    expired: int = 0
    rate_limited: bool = False  # more was due than the account's send rate allowed


class Engine:
    def __init__(
        self,
        store: Storage,
        brain: Brain,
        persona: Persona,
        config: EngineConfig,
        *,
        clock: Clock,
        random: RandomSource,
        senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self.store = store
        self.brain = brain
        self.persona = persona
        self.config = config
        self.clock = clock
        self.random = random
        self.senders = dict(senders or {})
        self.links = LinkMatcher.for_link(str(persona.link.url), config.public_url)
        self.composer = Composer(
            brain, persona, config, clock=clock, links=self.links, recent_outbound=self._recent
        )
        self._owner_prefix = f"{socket.gethostname()[:24]}:{os.getpid()}"
        # Hybrid turns that outlived the webhook's wait keep running here until they end.
        self.background: set[asyncio.Task[Decision]] = set()

    # -- commands ------------------------------------------------------------------------

    @overload
    async def handle(self, command: ReceiveMessage) -> Decision: ...
    @overload
    async def handle(self, command: RecordChannelEvent) -> ChannelEventResult: ...
    @overload
    async def handle(self, command: TurnDue) -> Decision | None: ...
    @overload
    async def handle(self, command: FollowUpDue) -> NudgeOutcome | None: ...
    @overload
    async def handle(self, command: DeliveryDue) -> DeliveryReport: ...
    @overload
    async def handle(self, command: Pause | Resume) -> ControlState: ...
    @overload
    async def handle(self, command: MarkConverted) -> ConvertResult: ...
    @overload
    async def handle(self, command: RecordClick) -> bool: ...
    @overload
    async def handle(self, command: RecoverInterrupted) -> int: ...
    @overload
    async def handle(self, command: ContactAction) -> ContactActionResult: ...
    @overload
    async def handle(self, command: ForgetContact) -> ForgetResult: ...

    async def handle(self, command: Command) -> Any:
        from dmpilot.engine import (
            channel_events,
            deliver,
            follow_up,
            handoff,
            operator,
            privacy,
            receive,
            turn,
        )

        if isinstance(command, ReceiveMessage):
            return await receive.receive_message(self, command)
        if isinstance(command, RecordChannelEvent):
            return await channel_events.record_channel_event(self, command)
        if isinstance(command, TurnDue):
            return await turn.run_due_turn(self, command)
        if isinstance(command, FollowUpDue):
            return await follow_up.run_due_follow_up(self, command)
        if isinstance(command, DeliveryDue):
            return await deliver.deliver_due(self, command)
        if isinstance(command, Pause | Resume):
            return await operator.switch(self, command)
        if isinstance(command, RecordClick):
            return await operator.record_click(self, command)
        if isinstance(command, RecoverInterrupted):
            return await operator.recover_interrupted(self, command)
        if isinstance(command, TakeOver):
            return await handoff.take_over(self, command)
        if isinstance(command, HandBack):
            return await handoff.hand_back(self, command)
        if isinstance(command, SendAsHuman):
            return await handoff.send_as_human(self, command)
        if isinstance(command, StopContact):
            return await handoff.stop_contact(self, command)
        if isinstance(command, ResetContact):
            return await handoff.reset_contact(self, command)
        if isinstance(command, ForgetContact):
            return await privacy.forget_contact(self, command)
        return await operator.mark_converted(self, command)

    async def drain(self) -> None:
        """Wait for hybrid turns still running in the background (graceful shutdown)."""
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)

    # -- the store, off the event loop ---------------------------------------------------

    async def write(self, work: Callable[[WritingUnit], T]) -> T:
        def run() -> T:
            with self.store.writing() as unit:
                return work(unit)

        return await to_thread.run_sync(run)

    async def read(self, work: Callable[[ReadModels], T]) -> T:
        def run() -> T:
            with self.store.reading() as unit:
                return work(unit)

        return await to_thread.run_sync(run)

    async def _recent(self, since: datetime, contact_id: int) -> list[tuple[int, str]]:
        return await self.read(lambda reads: reads.recent_outbound(since, contact_id))

    def new_owner(self) -> str:
        return f"{self._owner_prefix}:{uuid.uuid4().hex[:12]}"

    # -- decisions -----------------------------------------------------------------------

    def after_failure(self, turn: Turn, reason: Reason) -> AfterSkip:
        """A failed turn (model error, timeout, lease trouble) is owed again by the worker,
        with growing delays, when a worker can deliver a late reply (push, hybrid)."""
        if turn.in_response:
            return AfterSkip.keep()
        wait = self.config.turn_retry_seconds * 2**turn.attempts
        return AfterSkip.retry(
            self.clock.now() + timedelta(seconds=wait), self.config.turn_retry_attempts
        )

    def settle_for(self, turn: Turn, reason: Reason) -> AfterSkip:
        if reason in RETRYABLE:
            return self.after_failure(turn, reason)
        if reason in (Reason.COALESCED, Reason.DUPLICATE):
            return AfterSkip.keep()  # another turn answers these messages
        if turn.in_response:
            return AfterSkip.keep()  # inline mode owes no worker turns
        return AfterSkip.clear()

    async def skip(
        self, turn: Turn, reason: Reason, stage: str | None = None, **detail: Any
    ) -> Decision:
        """Record a decision to send nothing. Never raises: if even the event cannot be
        written, the message stays undecided and a repeat of it will take the turn."""
        now = self.clock.now()
        after = self.settle_for(turn, reason)
        message_id = turn.message_id
        if message_id is None and turn.recorded is not None:
            message_id = turn.recorded.subject_id
        try:
            gave_up = await self.write(
                lambda unit: unit.turns.skip(
                    now,
                    reason,
                    after,
                    contact_id=turn.contact_id,
                    message_id=message_id,
                    latency_ms=self.elapsed_ms(turn),
                    detail={**turn.detail, **detail} or None,
                )
            )
        except Exception:
            log.exception(
                "could not record a decision",
                extra={"contact": turn.contact_id, "subscriber": turn.subscriber},
            )
            gave_up = False
        if gave_up:
            log.error(
                "gave up on a turn after repeated failures",
                extra={"subscriber": turn.subscriber, "reason": reason.value},
            )
        return Decision.skip(reason, stage or turn.stage or self.persona.stages[0].name)

    async def stop(self, turn: Turn, reason: Reason, **detail: Any) -> Decision:
        """The contact is stopped and nothing is sent (the stop itself is already stored)."""
        await self.skip(turn, reason, STOPPED_STAGE, **detail)
        return Decision(Action.STOP, STOPPED_STAGE, reason=reason)

    def elapsed_ms(self, turn: Turn) -> int:
        return int((self.clock.monotonic() - turn.started) * 1000)

    def observe(self, turn: Turn, decision: Decision) -> None:
        """One structured log line and the metrics for every decision."""
        reason = decision.reason.value if decision.reason else None
        if decision.action is Action.EXIT:
            metrics.EXITS.labels(reason=reason or "cap").inc()
        if decision.should_stop:
            metrics.STOPS.labels(reason=reason or "cap").inc()
        log.info(
            "decision",
            extra={
                "contact": turn.contact_id,
                "subscriber": turn.subscriber,
                "action": decision.action.value,
                "reason": reason,
                "stage": decision.stage,
                "latency_ms": self.elapsed_ms(turn),
            },
        )

    async def guard(self, decision: Decision) -> None:
        """Pause the account when blocked repetitions or errors pile up (domain/guard).
        Never raises: the decision it looks at is already recorded."""
        config = self.config.guard
        if config is None or decision.reason not in TRIGGERS:
            return
        try:
            await self._guard(config)
        except Exception:
            log.exception("the anomaly guard could not look at the decisions")

    async def _guard(self, config: GuardConfig) -> None:
        now = self.clock.now()
        mix = await self.read(lambda reads: reads.decision_mix(now - config.window))
        why = verdict(mix, config)
        if why is None:
            return
        reason = f"anomaly guard: {why}"
        paused = await self.write(lambda unit: unit.control.pause_if_running(reason, "guard", now))
        if paused:
            metrics.GUARD_PAUSES.inc()
            log.warning("paused by the anomaly guard", extra={"reason": why})


RETRYABLE = frozenset({Reason.ERROR, Reason.TIMEOUT, Reason.BUSY, Reason.LEASE_LOST})


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
