"""A due follow-up, under the contact's lease. Read `run_due_follow_up` top to bottom.

claim it (the contact's lease, and what became of the reply it follows) → is it still
wanted? (paused, converted, stopped, handed off, answered, superseded, undelivered, the
nudges of this cycle used, the 24-hour window: each a cancel with its reason) → write the
nudge: the model from the persona's `nudge_guidance` (validated, repetition- and
broadcast-checked like any reply), else — or when every draft was refused by a check —
one of the persona's `nudge_lines` → commit it as the turn `nudge:<reply id>` with its
delivery, fenced like any bot commit (lease, stop, handoff, kill switch, a newer message).

A model error or timeout is silence plus an event: never a canned line, never a retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from dmpilot import metrics
from dmpilot.domain.commands import FollowUpDue
from dmpilot.domain.decision import ContactState, Decision, Reason
from dmpilot.domain.follow_ups import (
    MAX_CLAIMS,
    DueFollowUp,
    FollowUpCancel,
    FollowUpState,
    NudgeOutcome,
    cancel_reason,
    nudge_language,
    nudge_lines,
    nudge_trigger,
)
from dmpilot.domain.policy import PlanKind, TurnPlan
from dmpilot.domain.prompt import Purpose
from dmpilot.domain.turns import CommitKind, DeliveryPlan, TurnCommit, TurnRejected
from dmpilot.engine.core import Engine, Turn, describe

log = logging.getLogger("dmpilot.engine")

# Drafts refused by a check may give way to the persona's lines; an error never does.
_REFUSED = frozenset({Reason.INVALID, Reason.REPETITION, Reason.BROADCAST})
# A commit the fence refused: the follow-up is cancelled for the same reason.
_FENCED = {
    Reason.PAUSED: FollowUpCancel.PAUSED,
    Reason.STOPPED: FollowUpCancel.STOPPED,
    Reason.HANDOFF: FollowUpCancel.HANDOFF,
    Reason.COALESCED: FollowUpCancel.CONTACT_WROTE,
}


@dataclass(slots=True)
class _Draft:
    text: str | None
    reason: Reason | None = None  # why there is no text
    usage: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


async def run_due_follow_up(engine: Engine, command: FollowUpDue) -> NudgeOutcome | None:
    """The worker's follow-up: take a due one, if any, and nudge or say why not."""
    config, clock = engine.config, engine.clock
    now = clock.now()
    if not await engine.read(lambda reads: reads.follow_up_due(now)):
        return None  # a read: idle workers never take SQLite's write lock
    owner = engine.new_owner()
    claimed = await engine.write(
        lambda unit: unit.follow_ups.claim(owner, now, config.worker_lease, config.history_messages)
    )
    if claimed is None:
        return None
    due, state = claimed
    started = clock.monotonic()
    turn = Turn(
        contact_id=due.contact_id,
        subscriber=state.external_id,
        message_id=None,
        started=started,
        deadline=started + config.worker_budget_seconds,
        in_response=False,
        stage=due.stage,
    )
    try:
        outcome = await _follow_up(engine, turn, owner, due, state)
    except Exception as exc:
        log.exception(
            "follow-up failed", extra={"contact": turn.contact_id, "subscriber": turn.subscriber}
        )
        outcome = await _fail(engine, due, Reason.ERROR, {"error": describe(exc)})
    finally:
        if not turn.lease_released:
            await engine.write(lambda unit: unit.leases.release(turn.contact_id, owner))
    _observe(engine, turn, outcome)
    if outcome.reason is not None:
        await engine.guard(Decision.skip(outcome.reason, due.stage))
    return outcome


async def _follow_up(
    engine: Engine, turn: Turn, owner: str, due: DueFollowUp, state: ContactState
) -> NudgeOutcome:
    if due.claims > MAX_CLAIMS:  # its earlier turns died with their processes
        return await _fail(engine, due, Reason.ERROR, {"gave_up_after": due.claims - 1})
    why = cancel_reason(due, state, engine.persona, engine.clock.now())
    if why is not None:
        return await _cancel(engine, due, why)
    language = nudge_language(due, engine.persona)
    draft = await _write(engine, turn, due, state, language)
    if draft.text is None:
        return await _fail(engine, due, draft.reason or Reason.ERROR, draft.detail)
    now = engine.clock.now()
    commit = TurnCommit(
        contact_id=due.contact_id,
        owner=owner,
        trigger=nudge_trigger(due.reply_id),
        last_inbound_id=due.newest_inbound_id,  # a newer message refuses the commit
        stage=due.stage,
        text=draft.text,
        language=language,
        now=now,
        delivery=DeliveryPlan(state.channel, state.external_id, now, in_response=False),
        kind=CommitKind.NUDGE,
        usage=draft.usage,
        latency_ms=engine.elapsed_ms(turn),
        detail={**draft.detail, "follows": due.reply_id},
        follows=due.reply_id,
    )
    try:
        committed = await engine.write(lambda unit: unit.turns.commit(commit))
    except TurnRejected as rejected:
        return await _fenced(engine, due, rejected.reason)
    turn.lease_released = True
    return NudgeOutcome(due.contact_id, delivery_id=committed.delivery_id)


async def _write(
    engine: Engine, turn: Turn, due: DueFollowUp, state: ContactState, language: str
) -> _Draft:
    """The model writes it from the guidance; the persona's lines when there is none, or
    when every draft was refused by a check."""
    persona = engine.persona
    draft = _Draft(None, Reason.REPETITION)
    if persona.nudge_guidance.strip():
        budget_used = state.links_in_cycle(engine.links.contains) >= persona.link.budget
        plan = TurnPlan(PlanKind.REPLY, due.stage, language, link_sent=budget_used)
        composed = await engine.composer.compose(plan, state, turn.deadline, Purpose.NUDGE)
        usage = composed.usage()
        detail = {"brain": engine.brain.name, **composed.detail()}
        if composed.text is not None:
            return _Draft(composed.text, usage=usage, detail=detail)
        reason = composed.reason or Reason.ERROR
        if reason not in _REFUSED:
            log.error(
                "the brain failed on a nudge",
                extra={"subscriber": turn.subscriber, "error": composed.error},
            )
            return _Draft(None, reason, detail=detail)
        draft = _Draft(None, reason, usage, detail)
    lines = nudge_lines(persona, language, state.recent_replies)
    blocked = await engine.composer.broadcast_lines(lines, state.contact_id)
    allowed = [line for i, line in enumerate(lines) if i not in blocked]
    if not allowed:
        why = Reason.BROADCAST if blocked else draft.reason
        return _Draft(None, why, draft.usage, {**draft.detail, "fallback": "silent"})
    line = allowed[engine.random.randint(0, len(allowed) - 1)]
    return _Draft(line, None, draft.usage, {**draft.detail, "fallback": "nudge_lines"})


async def _cancel(engine: Engine, due: DueFollowUp, why: FollowUpCancel) -> NudgeOutcome:
    now = engine.clock.now()
    await engine.write(
        lambda unit: unit.follow_ups.settle(
            due.contact_id, due.reply_id, now, FollowUpState.CANCELLED, why
        )
    )
    return NudgeOutcome(due.contact_id, cancelled=why)


async def _fail(
    engine: Engine, due: DueFollowUp, reason: Reason, detail: dict[str, Any]
) -> NudgeOutcome:
    """Silence plus an event; the follow-up is over (no retry storm)."""
    now = engine.clock.now()
    await engine.write(
        lambda unit: unit.follow_ups.settle(
            due.contact_id, due.reply_id, now, FollowUpState.FAILED, reason, detail
        )
    )
    return NudgeOutcome(due.contact_id, reason=reason)


async def _fenced(engine: Engine, due: DueFollowUp, reason: Reason) -> NudgeOutcome:
    why = _FENCED.get(reason)
    if why is not None:
        return await _cancel(engine, due, why)
    # LEASE_LOST: still pending, claimed again after the lease (MAX_CLAIMS bounds it);
    # DUPLICATE: it was settled meanwhile.
    return NudgeOutcome(due.contact_id, reason=reason)


def _observe(engine: Engine, turn: Turn, outcome: NudgeOutcome) -> None:
    if outcome.sent:
        result = "sent"
    elif outcome.cancelled is not None:
        result = "cancelled"
    else:
        result = "failed"
    metrics.FOLLOW_UPS.labels(outcome=result).inc()
    why = outcome.cancelled or outcome.reason
    log.info(
        "follow-up",
        extra={
            "contact": turn.contact_id,
            "subscriber": turn.subscriber,
            "outcome": result,
            "reason": why.value if why is not None else None,
            "latency_ms": engine.elapsed_ms(turn),
        },
    )
