"""The story of one message. Read `Engine.handle` top to bottom.

safety check → record the inbound (dedup, safety stop) → opt-out goodbye, or wait out the
coalesce window → claim the contact's lease and read its state → plan (funnel, disclosure,
exit) → budget → compose (generate, validate, regenerate) → commit → release.
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
from datetime import datetime
from typing import Any, TypeVar

from anyio import to_thread

from dmpilot import metrics
from dmpilot.brains.base import Brain
from dmpilot.domain.decision import Action, ContactState, Decision, Reason
from dmpilot.domain.exits import choose_exit_variant, exit_language
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.guard import TRIGGERS, GuardConfig, verdict
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.language import detect_language
from dmpilot.domain.persona import Persona
from dmpilot.domain.policy import PlanKind, TurnPlan, disclosure_line, plan_turn
from dmpilot.domain.safety import looks_like_injection, opts_out, says_minor
from dmpilot.engine.compose import Composer
from dmpilot.engine.config import EngineConfig, utcnow
from dmpilot.store import CommitKind, Recorded, Store, TurnCommit, TurnRejected

log = logging.getLogger("dmpilot.engine")
T = TypeVar("T")

_LEASE_POLL_SECONDS = 0.05


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
        if self.recorded.stopped or self.recorded.safety_stop:
            return STOPPED_STAGE
        return self.recorded.stage or persona.stages[0].name

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def safety_stop_for(inbound: Inbound) -> Reason | None:
    """A message that stops the contact the moment it is stored."""
    if not inbound.text:
        return None
    if says_minor(inbound.text):
        return Reason.MINOR
    if opts_out(inbound.text):
        return Reason.OPT_OUT
    return None


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
        self.composer = Composer(brain, persona, config, self._recent_outbound, clock)
        self._owner_prefix = f"{socket.gethostname()[:32]}:{os.getpid()}"

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        # Store calls are short blocking transactions; keep them off the event loop.
        return await to_thread.run_sync(fn, *args)

    # -- the story of one message --------------------------------------------------------

    async def handle(self, inbound: Inbound) -> Decision:
        started = time.monotonic()
        language = detect_language(inbound.text) if inbound.text else None
        recorded = await self._db(
            self.store.record_inbound,
            inbound,
            self.clock(),
            self.config.dedup_window,
            language,
            safety_stop_for(inbound),
        )
        turn = _Turn(recorded, started, started + self.config.reply_budget_seconds)
        try:
            decision = await self._decide(turn, inbound, language)
        except Exception as exc:  # any failure is silence plus an event, never a canned text
            log.exception("turn failed for contact %s", recorded.contact_id)
            decision = await self._skip(turn, Reason.ERROR, error=_describe(exc))
        self._observe(turn, decision)
        if decision.reason in TRIGGERS and self.config.guard is not None:
            await self._guard(self.config.guard)
        return decision

    async def _guard(self, config: GuardConfig) -> None:
        """Pause the account when blocked repetitions or errors pile up (see domain/guard)."""
        now = self.clock()
        mix = await self._db(self.store.decision_mix, now - config.window)
        why = verdict(mix, config)
        if why and await self._db(
            self.store.pause_if_running, f"anomaly guard: {why}", "guard", now
        ):
            metrics.GUARD_PAUSES.inc()
            log.warning("paused by the anomaly guard", extra={"reason": why})

    def _observe(self, turn: _Turn, decision: Decision) -> None:
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
                "action": decision.action.value,
                "reason": reason,
                "stage": decision.stage,
                "latency_ms": turn.elapsed_ms(),
            },
        )

    async def _decide(self, turn: _Turn, inbound: Inbound, language: str | None) -> Decision:
        recorded = turn.recorded
        if recorded.duplicate:
            return await self._skip(turn, Reason.DUPLICATE, duplicate_of=recorded.duplicate_of)
        if inbound.is_empty:
            return await self._skip(turn, Reason.EMPTY)
        if recorded.safety_stop is Reason.MINOR:
            return await self._stop(turn, Reason.MINOR)
        if recorded.safety_stop is Reason.OPT_OUT:
            return await self._opt_out(turn, language)
        if recorded.paused:
            return await self._skip(turn, Reason.PAUSED)
        if recorded.stopped and self.persona.reactivate_after_days is None:
            return await self._skip(turn, Reason.STOPPED)

        # Rapid-fire messages: only the request carrying the newest one answers.
        if self.config.coalesce_seconds > 0:
            await self.sleep(self.config.coalesce_seconds)
            if await self._superseded(turn):
                return await self._skip(turn, Reason.COALESCED)

        owner = self._new_owner()
        state = await self._acquire_lease(turn, owner)
        if isinstance(state, Reason):
            return await self._skip(turn, state)
        try:
            return await self._turn(turn, owner, state)
        finally:
            await self._release(turn, owner)

    async def _turn(self, turn: _Turn, owner: str, state: ContactState) -> Decision:
        if state.latest_pending_id != turn.message_id:
            reason = Reason.DUPLICATE if state.latest_pending_id is None else Reason.COALESCED
            return await self._skip(turn, reason)
        if any(looks_like_injection(m.text) for m in state.pending):
            # Answered like any message; the leak check guards the reply. Flagged for audit.
            await self._event(turn, "flagged", Reason.INJECTION)

        now = self.clock()
        plan = plan_turn(state, self.persona, now)
        if plan.kind is PlanKind.SKIP:
            assert plan.reason is not None
            return await self._skip(turn, plan.reason, plan.stage)

        new_conversation = plan.reactivate or not state.recent_replies
        if new_conversation:
            engaged = state.new_conversations_today
            if plan.reactivate:  # the state did not read it: this contact had replies
                engaged = await self._db(self.store.new_conversations, now.date())
            if engaged >= self.config.daily_new_conversations:
                return await self._skip(turn, Reason.BUDGET, plan.stage, engaged=engaged)
        limit = self.config.daily_new_conversations if new_conversation else None

        if plan.kind is PlanKind.EXIT:
            return await self._exit(turn, owner, plan, limit)
        if plan.kind is PlanKind.DISCLOSE:
            text = disclosure_line(self.persona, plan.language, state.recent_replies)
            if text is None:
                return await self._skip(turn, Reason.REPETITION, plan.stage, disclosure=True)
            return await self._commit(
                turn, self._commit_for(turn, owner, plan, text, CommitKind.DISCLOSURE, limit)
            )
        return await self._reply(turn, owner, plan, state, limit)

    async def _reply(
        self, turn: _Turn, owner: str, plan: TurnPlan, state: ContactState, limit: int | None
    ) -> Decision:
        composed = await self.composer.compose(plan, state, turn.deadline)
        if composed.text is None:
            assert composed.reason is not None
            return await self._skip(turn, composed.reason, plan.stage, **composed.detail())
        commit = self._commit_for(turn, owner, plan, composed.text, CommitKind.REPLY, limit)
        commit.usage = composed.usage()
        commit.detail = {"brain": self.brain.name, **composed.detail()}
        return await self._commit(turn, commit)

    async def _exit(self, turn: _Turn, owner: str, plan: TurnPlan, limit: int | None) -> Decision:
        language = exit_language(self.persona, plan.language)
        variants = tuple(self.persona.exits[language])
        rng = random.Random()
        commit = self._commit_for(turn, owner, plan, "", CommitKind.EXIT, limit)
        commit.language = language
        commit.stop_reason = plan.reason or Reason.CAP
        commit.exit_texts = variants
        commit.choose_exit = lambda last: choose_exit_variant(len(variants), last, rng)
        return await self._commit(turn, commit)

    async def _opt_out(self, turn: _Turn, language: str | None) -> Decision:
        """The contact asked to stop; it already is. One short goodbye, if it was active."""
        goodbye = self.persona.in_language(
            self.persona.opt_out_goodbye, language or self.persona.default_language
        )
        if turn.recorded.stopped or not goodbye or turn.recorded.paused:
            return await self._stop(turn, Reason.OPT_OUT)
        owner = self._new_owner()
        # Waits out any turn in flight: its commit is now fenced off by the stop.
        state = await self._acquire_lease(turn, owner, give_way_to_newer=False)
        if isinstance(state, Reason):
            return await self._stop(turn, Reason.OPT_OUT, lease=state.value)
        try:
            return await self._commit(
                turn,
                TurnCommit(
                    contact_id=turn.contact_id,
                    owner=owner,
                    last_inbound_id=turn.message_id,
                    stage=STOPPED_STAGE,
                    text=goodbye,
                    language=language or self.persona.default_language,
                    now=self.clock(),
                    kind=CommitKind.GOODBYE,
                    latency_ms=turn.elapsed_ms(),
                ),
            )
        finally:
            await self._release(turn, owner)

    # -- the lease -----------------------------------------------------------------------

    def _new_owner(self) -> str:
        return f"{self._owner_prefix}:{uuid.uuid4().hex[:12]}"

    async def _acquire_lease(
        self, turn: _Turn, owner: str, give_way_to_newer: bool = True
    ) -> ContactState | Reason:
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
            metrics.LEASE_CLAIMS.labels(result="acquired" if state else "blocked").inc()
            if state is not None:
                return state
            if give_way_to_newer and await self._superseded(turn):
                return Reason.COALESCED
            if time.monotonic() >= turn.deadline:
                return Reason.BUSY
            await self.sleep(_LEASE_POLL_SECONDS)

    async def _release(self, turn: _Turn, owner: str) -> None:
        if not turn.lease_released:
            await self._db(self.store.release_lease, turn.contact_id, owner)

    async def _superseded(self, turn: _Turn) -> bool:
        newest = await self._db(self.store.newest_inbound_id, turn.contact_id)
        return newest is not None and newest > turn.message_id

    # -- committing and recording --------------------------------------------------------

    def _commit_for(
        self,
        turn: _Turn,
        owner: str,
        plan: TurnPlan,
        text: str,
        kind: CommitKind,
        limit: int | None,
    ) -> TurnCommit:
        return TurnCommit(
            contact_id=turn.contact_id,
            owner=owner,
            last_inbound_id=turn.message_id,
            stage=plan.stage,
            text=text,
            language=plan.language,
            now=self.clock(),
            kind=kind,
            reactivate=plan.reactivate,
            new_conversation_limit=limit,
            latency_ms=turn.elapsed_ms(),
            track_link=(str(self.persona.link.url), self.config.public_url)
            if self.config.public_url
            else None,
        )

    async def _commit(self, turn: _Turn, commit: TurnCommit) -> Decision:
        try:
            committed = await self._db(self.store.commit_turn, commit)
        except TurnRejected as rejected:
            # COALESCED here: a newer message arrived while this reply was being written.
            return await self._skip(turn, rejected.reason, commit.stage, at="commit")
        turn.lease_released = True
        if commit.kind is CommitKind.EXIT:
            decision = Decision(Action.EXIT, STOPPED_STAGE, committed.text, commit.stop_reason)
        elif commit.kind is CommitKind.GOODBYE:
            decision = Decision(Action.EXIT, STOPPED_STAGE, committed.text, Reason.OPT_OUT)
        else:
            decision = Decision(
                Action.SEND, commit.stage, committed.text, delay_seconds=self._delay()
            )
        return decision

    async def _stop(self, turn: _Turn, reason: Reason, **detail: Any) -> Decision:
        """The contact is stopped and nothing is sent (the stop itself is already stored)."""
        await self._event(turn, "skipped", reason, **detail)
        return Decision(Action.STOP, STOPPED_STAGE, reason=reason)

    async def _skip(
        self, turn: _Turn, reason: Reason, stage: str | None = None, **detail: Any
    ) -> Decision:
        await self._event(turn, "skipped", reason, **detail)
        return Decision.skip(reason, stage or turn.stage(self.persona))

    async def _event(self, turn: _Turn, kind: str, reason: Reason, **detail: Any) -> None:
        recorded = turn.recorded
        await self._db(
            lambda: self.store.record_event(
                self.clock(),
                kind,
                reason,
                recorded.contact_id,
                recorded.message_id or recorded.duplicate_of,
                None,
                turn.elapsed_ms(),
                detail or None,
            )
        )

    async def _recent_outbound(self, since: datetime, contact_id: int) -> list[tuple[int, str]]:
        return await self._db(self.store.recent_outbound, since, contact_id)

    def _delay(self) -> int:
        low, high = self.persona.reply_delay_seconds
        return random.randint(low, high) if high else 0


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
