"""The engine: the one place a turn is orchestrated. Read `handle` top to bottom.

record the inbound (dedup) → wait out the coalesce window → claim the contact's lease →
load state → plan (funnel, stop, exit) → generate → check → commit → release.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from anyio import to_thread

from dmpilot.brains.base import Brain, BrainError, BrainExhausted, BrainRequest
from dmpilot.domain.decision import Action, ContactState, Decision, Reason
from dmpilot.domain.exits import choose_exit_variant, exit_language
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.language import detect_language
from dmpilot.domain.persona import Persona
from dmpilot.domain.policy import PlanKind, TurnPlan, plan_turn
from dmpilot.domain.prompt import build_prompt
from dmpilot.domain.repetition import find_repeat
from dmpilot.settings import Settings
from dmpilot.store import Recorded, Store, TurnCommit, TurnRejected

log = logging.getLogger("dmpilot.engine")
T = TypeVar("T")

_LEASE_POLL_SECONDS = 0.05


def utcnow() -> datetime:
    """Naive UTC: the one time representation stored on SQLite and PostgreSQL alike."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    dedup_window: timedelta
    coalesce_seconds: float
    reply_budget_seconds: float
    lease: timedelta
    history_messages: int

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        return cls(
            dedup_window=timedelta(seconds=settings.dedup_window_seconds),
            coalesce_seconds=settings.coalesce_seconds,
            reply_budget_seconds=settings.reply_budget_seconds,
            lease=timedelta(seconds=max(settings.lease_seconds, settings.reply_budget_seconds)),
            history_messages=settings.history_messages,
        )


@dataclass(slots=True)
class _Turn:
    """What one request knows while it works: for events and timings."""

    recorded: Recorded
    started: float
    deadline: float
    lease_released: bool = False  # a committed turn releases its lease in the same commit

    @property
    def contact_id(self) -> int:
        return self.recorded.contact_id

    @property
    def message_id(self) -> int:
        assert self.recorded.message_id is not None
        return self.recorded.message_id

    def stage(self, persona: Persona) -> str:
        """The contact's stage as it stands, reported with every skip."""
        if self.recorded.stopped:
            return STOPPED_STAGE
        return self.recorded.stage or persona.stages[0].name

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


class Engine:
    def __init__(
        self,
        store: Store,
        brain: Brain,
        persona: Persona,
        config: EngineConfig,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.brain = brain
        self.persona = persona
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self._owner_prefix = f"{socket.gethostname()[:32]}:{os.getpid()}"

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        # Store calls are short blocking transactions; keep them off the event loop.
        return await to_thread.run_sync(fn, *args)

    # -- the story of one message --------------------------------------------------------

    async def handle(self, inbound: Inbound) -> Decision:
        started = time.monotonic()
        language = detect_language(inbound.text) if inbound.text else None
        recorded = await self._db(
            self.store.record_inbound, inbound, self.clock(), self.config.dedup_window, language
        )
        turn = _Turn(recorded, started, started + self.config.reply_budget_seconds)
        try:
            return await self._decide(turn, inbound)
        except Exception as exc:  # any failure is silence plus an event, never a canned text
            log.exception("turn failed for contact %s", recorded.contact_id)
            return await self._skip(turn, Reason.ERROR, error=_describe(exc))

    async def _decide(self, turn: _Turn, inbound: Inbound) -> Decision:
        recorded = turn.recorded
        if recorded.duplicate:
            return await self._skip(turn, Reason.DUPLICATE, duplicate_of=recorded.duplicate_of)
        if inbound.is_empty:
            return await self._skip(turn, Reason.EMPTY)
        if recorded.paused:
            return await self._skip(turn, Reason.PAUSED)
        if recorded.stopped and self.persona.reactivate_after_days is None:
            return await self._skip(turn, Reason.STOPPED)

        # Rapid-fire messages: only the request carrying the newest one answers.
        if self.config.coalesce_seconds > 0:
            await self.sleep(self.config.coalesce_seconds)
            if await self._superseded(turn):
                return await self._skip(turn, Reason.COALESCED)

        owner = f"{self._owner_prefix}:{uuid.uuid4().hex[:12]}"
        state = await self._acquire_lease(turn, owner)
        if isinstance(state, Reason):
            return await self._skip(turn, state)
        try:
            return await self._turn(turn, owner, state)
        finally:
            if not turn.lease_released:
                await self._db(self.store.release_lease, turn.contact_id, owner)

    async def _acquire_lease(self, turn: _Turn, owner: str) -> ContactState | Reason:
        """Wait for the contact's lease (and its state, read under it); give up when a
        newer message or the budget wins."""
        while True:
            state = await self._db(
                self.store.claim_lease_and_load,
                turn.contact_id,
                owner,
                self.clock(),
                self.config.lease,
                self.config.history_messages,
            )
            if state is not None:
                return state
            if await self._superseded(turn):
                return Reason.COALESCED
            if time.monotonic() >= turn.deadline:
                return Reason.BUSY
            await self.sleep(_LEASE_POLL_SECONDS)

    async def _turn(self, turn: _Turn, owner: str, state: ContactState) -> Decision:
        if state.latest_pending_id != turn.message_id:
            reason = Reason.DUPLICATE if state.latest_pending_id is None else Reason.COALESCED
            return await self._skip(turn, reason)

        plan = plan_turn(state, self.persona, self.clock())
        if plan.kind is PlanKind.SKIP:
            assert plan.reason is not None
            return await self._skip(turn, plan.reason, plan.stage)
        if plan.kind is PlanKind.EXIT:
            return await self._exit(turn, owner, plan)
        return await self._reply(turn, owner, plan, state)

    async def _reply(
        self, turn: _Turn, owner: str, plan: TurnPlan, state: ContactState
    ) -> Decision:
        stage = self.persona.stage(plan.stage)
        remaining = turn.deadline - time.monotonic()
        if remaining <= 0:
            return await self._skip(turn, Reason.TIMEOUT, plan.stage)
        request = BrainRequest(
            persona=self.persona,
            stage=stage,
            language=plan.language,
            link_allowed=plan.link_allowed,
            prompt=build_prompt(
                self.persona,
                stage,
                plan.language,
                plan.link_allowed,
                state.history,
                state.pending,
                state.recent_replies,
            ),
            pending=state.pending,
            recent_replies=state.recent_replies,
            contact_id=turn.contact_id,
            contact_name=state.name,
            timeout_seconds=remaining,
        )
        brain_started = time.monotonic()
        try:
            reply = await asyncio.wait_for(self.brain.generate(request), timeout=remaining)
        except TimeoutError:
            return await self._skip(turn, Reason.TIMEOUT, plan.stage, brain=self.brain.name)
        except BrainExhausted as exc:
            return await self._skip(turn, Reason.REPETITION, plan.stage, error=str(exc))
        except BrainError as exc:
            return await self._skip(turn, Reason.ERROR, plan.stage, error=str(exc))
        brain_ms = int((time.monotonic() - brain_started) * 1000)

        repeated = find_repeat(reply.text, state.recent_replies)
        if repeated is not None:
            return await self._skip(
                turn, Reason.REPETITION, plan.stage, candidate=reply.text, repeats=repeated
            )
        detail = {"brain": self.brain.name, "brain_ms": brain_ms, **reply.usage()}
        return await self._commit(
            turn,
            TurnCommit(
                contact_id=turn.contact_id,
                owner=owner,
                last_inbound_id=turn.message_id,
                stage=plan.stage,
                text=reply.text,
                language=plan.language,
                now=self.clock(),
                reactivate=plan.reactivate,
                latency_ms=turn.elapsed_ms(),
                detail=detail,
            ),
            Action.SEND,
        )

    async def _exit(self, turn: _Turn, owner: str, plan: TurnPlan) -> Decision:
        language = exit_language(self.persona, plan.language)
        variants = tuple(self.persona.exits[language])
        rng = random.Random()
        return await self._commit(
            turn,
            TurnCommit(
                contact_id=turn.contact_id,
                owner=owner,
                last_inbound_id=turn.message_id,
                stage=plan.stage,
                text="",
                language=language,
                now=self.clock(),
                exit_texts=variants,
                choose_exit=lambda last: choose_exit_variant(len(variants), last, rng),
                reactivate=plan.reactivate,
                latency_ms=turn.elapsed_ms(),
            ),
            Action.EXIT,
        )

    async def _commit(self, turn: _Turn, commit: TurnCommit, action: Action) -> Decision:
        try:
            committed = await self._db(self.store.commit_turn, commit)
        except TurnRejected as rejected:
            # COALESCED here: a newer message arrived while this reply was being written.
            return await self._skip(turn, rejected.reason, commit.stage, at="commit")
        turn.lease_released = True
        stage = STOPPED_STAGE if action is Action.EXIT else commit.stage
        decision = Decision(
            action,
            stage,
            text=committed.text,
            reason=Reason.CAP if action is Action.EXIT else None,
            delay_seconds=self._delay(),
        )
        log.info(
            "contact=%s decision=%s stage=%s latency_ms=%s",
            turn.contact_id,
            action.value,
            stage,
            turn.elapsed_ms(),
        )
        return decision

    # -- helpers -------------------------------------------------------------------------

    async def _superseded(self, turn: _Turn) -> bool:
        newest = await self._db(self.store.newest_inbound_id, turn.contact_id)
        return newest is not None and newest > turn.message_id

    async def _skip(
        self, turn: _Turn, reason: Reason, stage: str | None = None, **detail: Any
    ) -> Decision:
        recorded = turn.recorded
        await self._db(
            lambda: self.store.record_event(
                self.clock(),
                "skipped",
                reason,
                recorded.contact_id,
                recorded.message_id or recorded.duplicate_of,
                None,
                turn.elapsed_ms(),
                detail or None,
            )
        )
        log.info(
            "contact=%s decision=skip reason=%s latency_ms=%s",
            recorded.contact_id,
            reason.value,
            turn.elapsed_ms(),
        )
        return Decision.skip(reason, stage or turn.stage(self.persona))

    def _delay(self) -> int:
        low, high = self.persona.reply_delay_seconds
        return random.randint(low, high) if high else 0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
