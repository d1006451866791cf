"""One turn, under the contact's lease. Read `run_turn` top to bottom.

an owed goodbye first → is this still the newest message? → kill switch → plan (funnel,
disclosure, exit) → daily budget → compose (generate, validate, regenerate) → commit the
reply and its delivery in one transaction (fenced by the lease and the stop), with the
follow-up it schedules when its stage asks for one (engine/follow_up.py sends it).

The webhook runs it (inline, hybrid) and so does the worker (push, and retries of turns
that failed), through `run_due_turn`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from dmpilot.domain.commands import TurnDue
from dmpilot.domain.decision import Action, ContactState, Decision, EventKind, Reason
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.domain.exits import exit_choices, exit_language
from dmpilot.domain.follow_ups import FollowUpPlan, nudges_in_cycle, plan_follow_up
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.policy import (
    PlanKind,
    TurnPlan,
    boundary_line,
    disclosure_line,
    plan_turn,
    reply_language,
)
from dmpilot.domain.prompt import Purpose
from dmpilot.domain.repetition import find_repeat
from dmpilot.domain.safety import looks_like_injection
from dmpilot.domain.turns import (
    GOODBYE_TRIGGER,
    CommitKind,
    DeliveryPlan,
    TurnCommit,
    TurnRejected,
    inbound_trigger,
)
from dmpilot.engine.core import Engine, Turn, describe

log = logging.getLogger("dmpilot.engine")


async def run_turn(engine: Engine, turn: Turn, owner: str, state: ContactState) -> Decision:
    persona = engine.persona
    turn.attempts = state.turn_attempts
    if state.goodbye_due:
        return await _goodbye(engine, turn, owner, state)
    if state.latest_pending_id != turn.message_id:
        # Another turn answered this message (or answers a newer one): coalesced. Only a
        # repeated delivery of one message is a duplicate.
        fresh = state.latest_pending_id is not None or not turn.repeat
        return await engine.skip(turn, Reason.COALESCED if fresh else Reason.DUPLICATE)
    if state.paused:
        return await engine.skip(turn, Reason.PAUSED)
    if state.in_handoff(engine.clock.now()):
        return await engine.skip(turn, Reason.HANDOFF)
    if any(looks_like_injection(m.text) for m in state.pending):
        # Answered like any message; the leak check guards the reply. Flagged for audit.
        now = engine.clock.now()
        await engine.write(
            lambda unit: unit.events.record(
                now,
                EventKind.FLAGGED,
                Reason.INJECTION,
                contact_id=turn.contact_id,
                message_id=turn.message_id,
            )
        )

    now = engine.clock.now()
    plan = plan_turn(state, persona, now, engine.links.contains)
    if plan.kind is PlanKind.SKIP:
        return await engine.skip(turn, plan.reason or Reason.STOPPED, plan.stage)

    new_conversation = plan.reactivate or not state.recent_replies
    limit = engine.config.daily_new_conversations if new_conversation else None
    if limit is not None:
        engaged = state.new_conversations_today
        if plan.reactivate:  # the state did not read it: this contact had replies
            engaged = await engine.read(lambda reads: reads.new_conversations(now.date()))
        if engaged >= limit:
            return await engine.skip(turn, Reason.BUDGET, plan.stage, engaged=engaged)

    if plan.kind is PlanKind.EXIT:
        return await _exit(engine, turn, owner, state, plan, limit)
    if plan.kind is PlanKind.DISCLOSE:
        text = disclosure_line(persona, plan.language, state.recent_replies)
        if text is None:
            return await engine.skip(turn, Reason.REPETITION, plan.stage, disclosure=True)
        commit = _commit_for(engine, turn, owner, state, plan, text, CommitKind.DISCLOSURE)
        commit.new_conversation_limit = limit
        return await _commit(engine, turn, commit)
    if plan.kind is PlanKind.BOUNDARY and plan.boundary is not None:
        line = boundary_line(persona, plan.boundary, plan.language, state.recent_replies)
        if line is None:
            return await engine.skip(turn, Reason.REPETITION, plan.stage, boundary=plan.boundary)
        commit = _commit_for(engine, turn, owner, state, plan, line, CommitKind.BOUNDARY)
        commit.new_conversation_limit = limit
        return await _commit(engine, turn, commit)
    return await _reply(engine, turn, owner, state, plan, limit)


async def _reply(
    engine: Engine,
    turn: Turn,
    owner: str,
    state: ContactState,
    plan: TurnPlan,
    limit: int | None,
) -> Decision:
    composed = await engine.composer.compose(plan, state, turn.deadline)
    if composed.text is None:
        reason = composed.reason or Reason.ERROR
        if reason is Reason.ERROR:
            log.error(
                "the brain failed",
                extra={
                    "subscriber": turn.subscriber,
                    "brain": engine.brain.name,
                    "error": composed.error,
                },
            )
        return await engine.skip(turn, reason, plan.stage, **composed.detail())
    text, token = _tracked(engine, composed.text)
    commit = _commit_for(engine, turn, owner, state, plan, text, CommitKind.REPLY)
    commit.new_conversation_limit = limit
    commit.link_token = token
    commit.usage = composed.usage()
    commit.detail = {"brain": engine.brain.name, **composed.detail()}
    commit.follow_up = _follow_up(engine, state, commit)
    return await _commit(engine, turn, commit)


def _follow_up(engine: Engine, state: ContactState, commit: TurnCommit) -> FollowUpPlan | None:
    """A nudge is pushed by the worker: none where the channel answers inline (no worker
    runs there by default) or no Sender serves it."""
    pushed = engine.config.delivery_for(state.channel) is not DeliveryMode.INLINE
    if not pushed or state.channel not in engine.senders:
        return None
    return plan_follow_up(
        engine.persona,
        commit.stage,
        reply_at=commit.delivery.not_before,
        last_inbound_at=state.last_inbound_at,
        nudges_sent=0 if commit.reactivate else nudges_in_cycle(state),
    )


def _tracked(engine: Engine, text: str) -> tuple[str, str | None]:
    """Attribution: a text carrying the link gets its own tracked link, stored as sent."""
    if not engine.config.public_url or not engine.links.contains(text):
        return text, None
    token = engine.random.token()
    return engine.links.replace(text, f"{engine.config.public_url.rstrip('/')}/l/{token}"), token


async def _exit(
    engine: Engine,
    turn: Turn,
    owner: str,
    state: ContactState,
    plan: TurnPlan,
    limit: int | None,
) -> Decision:
    """The goodbye: written by the model for this contact (validated, repetition- and
    broadcast-checked like any reply); the persona's exit lines only when every draft
    fails — and those are broadcast-checked too. Committed with the stop, once."""
    persona = engine.persona
    composed = await engine.composer.compose(plan, state, turn.deadline, Purpose.EXIT)
    commit = _commit_for(engine, turn, owner, state, plan, "", CommitKind.EXIT)
    commit.stop_reason = plan.reason or Reason.CAP
    commit.new_conversation_limit = limit
    commit.usage = composed.usage()
    commit.detail = {"brain": engine.brain.name, **composed.detail()}
    if composed.text is not None:
        commit.text, commit.link_token = _tracked(engine, composed.text)
        return await _commit(engine, turn, commit)
    language = exit_language(persona, plan.language)
    variants = tuple(persona.exits[language])
    blocked = await engine.composer.broadcast_lines(variants, state.contact_id)
    blocked |= {i for i, line in enumerate(variants) if find_repeat(line, state.recent_replies)}
    allowed = [i for i in range(len(variants)) if i not in blocked]
    commit.language = language
    commit.detail["fallback"] = "exit_lines" if allowed else "silent"
    if allowed:
        commit.exit_texts = variants
        commit.exit_choices = exit_choices(len(variants), engine.random.randint, allowed)
    # No line left that is not a broadcast: the contact is stopped without a goodbye.
    return await _commit(engine, turn, commit)


async def _goodbye(engine: Engine, turn: Turn, owner: str, state: ContactState) -> Decision:
    """The contact opted out while active: its one short goodbye, at once, never twice."""
    persona = engine.persona
    language = reply_language(state, persona)
    text = persona.in_language(persona.opt_out_goodbye, language)
    if not text:
        return await engine.stop(turn, Reason.OPT_OUT)
    now = engine.clock.now()
    answered = state.latest_pending_id or turn.message_id or 0
    commit = TurnCommit(
        contact_id=turn.contact_id,
        owner=owner,
        trigger=GOODBYE_TRIGGER,
        last_inbound_id=answered,
        stage=STOPPED_STAGE,
        text=text,
        language=language,
        now=now,
        delivery=DeliveryPlan(state.channel, state.external_id, now, turn.in_response),
        kind=CommitKind.GOODBYE,
        latency_ms=engine.elapsed_ms(turn),
    )
    return await _commit(engine, turn, commit)


def _commit_for(
    engine: Engine,
    turn: Turn,
    owner: str,
    state: ContactState,
    plan: TurnPlan,
    text: str,
    kind: CommitKind,
) -> TurnCommit:
    now = engine.clock.now()
    message_id = turn.message_id or 0
    return TurnCommit(
        contact_id=turn.contact_id,
        owner=owner,
        trigger=inbound_trigger(message_id),
        last_inbound_id=message_id,
        stage=plan.stage,
        text=text,
        language=plan.language,
        now=now,
        delivery=_delivery_plan(engine, turn, state),
        kind=kind,
        reactivate=plan.reactivate,
        latency_ms=engine.elapsed_ms(turn),
        intents=tuple((intent.value, effect.value) for intent, effect in plan.effects)
        + tuple(
            (intent.value, "none")
            for intent in sorted(plan.intents)
            if intent not in {i for i, _ in plan.effects}
        ),
    )


def _delivery_plan(engine: Engine, turn: Turn, state: ContactState) -> DeliveryPlan:
    """When the text may leave: now in the response, or after the persona's pacing delay.
    A reply that replaced queued ones keeps the earliest slot they held."""
    now = engine.clock.now()
    not_before = now
    if not turn.in_response:
        low, high = engine.persona.reply_delay_seconds
        not_before = now + timedelta(seconds=engine.random.randint(low, high) if high else 0)
        if state.superseded_not_before is not None:
            not_before = max(now, min(not_before, state.superseded_not_before))
    return DeliveryPlan(state.channel, state.external_id, not_before, turn.in_response)


async def _commit(engine: Engine, turn: Turn, commit: TurnCommit) -> Decision:
    try:
        committed = await engine.write(lambda unit: unit.turns.commit(commit))
    except TurnRejected as rejected:
        # COALESCED here: a newer message arrived while this reply was being written.
        return await engine.skip(turn, rejected.reason, commit.stage, at="commit")
    turn.lease_released = True
    if commit.kind is CommitKind.EXIT and not committed.text:
        return Decision(Action.STOP, STOPPED_STAGE, reason=commit.stop_reason)
    if commit.kind is CommitKind.EXIT:
        return Decision(
            Action.EXIT,
            STOPPED_STAGE,
            committed.text,
            commit.stop_reason,
            delivery_id=committed.delivery_id,
        )
    if commit.kind is CommitKind.GOODBYE:
        return Decision(
            Action.EXIT,
            STOPPED_STAGE,
            committed.text,
            Reason.OPT_OUT,
            delivery_id=committed.delivery_id,
        )
    low, high = engine.persona.reply_delay_seconds
    return Decision(
        Action.SEND,
        commit.stage,
        committed.text,
        delay_seconds=engine.random.randint(low, high) if turn.in_response and high else 0,
        delivery_id=committed.delivery_id,
    )


async def run_due_turn(engine: Engine, command: TurnDue) -> Decision | None:
    """The worker's turn: take a contact it owes a turn to, if one is due, and run it."""
    config, clock = engine.config, engine.clock
    owner = engine.new_owner()
    now = clock.now()
    due = await engine.read(lambda reads: reads.work_due(now))
    if not due.turns:  # a read: idle workers never take SQLite's write lock
        return None
    state = await engine.write(
        lambda unit: unit.leases.claim_due_and_load(
            owner, now, config.worker_lease, config.history_messages
        )
    )
    if state is None:
        return None
    started = clock.monotonic()
    turn = Turn(
        contact_id=state.contact_id,
        subscriber=state.external_id,
        message_id=state.latest_pending_id,
        started=started,
        deadline=started + config.worker_budget_seconds,
        in_response=False,
        stage=STOPPED_STAGE if state.stopped_at else None,
    )
    try:
        if turn.message_id is None and not state.goodbye_due:
            # Everything was answered meanwhile: nothing is owed any more.
            await engine.write(lambda unit: unit.turns.settle(turn.contact_id, now))
            return None
        decision = await run_turn(engine, turn, owner, state)
    except Exception as exc:
        log.exception(
            "turn failed", extra={"contact": turn.contact_id, "subscriber": turn.subscriber}
        )
        decision = await engine.skip(turn, Reason.ERROR, error=describe(exc))
    finally:
        if not turn.lease_released:
            await engine.write(lambda unit: unit.leases.release(turn.contact_id, owner))
    engine.observe(turn, decision)
    await engine.guard(decision)
    return decision
