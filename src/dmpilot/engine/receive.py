"""The story of one message. Read `receive_message` top to bottom.

safety check → store it (dedup, safety stop, owe the worker a turn in push/hybrid) →
the decisions that need no turn (duplicate, empty, minor, pause, stop) → then, by
delivery mode:
- inline: wait out the coalesce window, take the contact's lease, run the turn (turn.py);
  the reply leaves in the webhook response;
- push: answer `queued`; the worker runs the turn and pushes the reply;
- hybrid: run the turn as inline, but answer `deferred` if it is not ready within
  DMPILOT_INLINE_SECONDS; the turn goes on and the worker pushes its reply.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from dmpilot import metrics
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.decision import ContactState, Decision, Reason
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.language import detect_language
from dmpilot.domain.memory import extract_facts
from dmpilot.domain.ports import WritingUnit
from dmpilot.domain.safety import asks_for_human, opts_out, says_minor
from dmpilot.domain.turns import HandoffRequest, Recorded
from dmpilot.engine.core import Engine, Turn, describe
from dmpilot.engine.turn import run_turn

log = logging.getLogger("dmpilot.engine")

_LEASE_POLL_SECONDS = 0.05


def safety_stop_for(inbound: Inbound) -> Reason | None:
    """A message that stops the contact the moment it is stored."""
    if not inbound.text:
        return None
    if says_minor(inbound.text):
        return Reason.MINOR
    if opts_out(inbound.text):
        return Reason.OPT_OUT
    return None


async def receive_message(engine: Engine, command: ReceiveMessage) -> Decision:
    inbound = command.inbound
    config, clock, persona = engine.config, engine.clock, engine.persona
    started = clock.monotonic()
    language = detect_language(inbound.text) if inbound.text else None
    now = clock.now()
    mode = config.delivery_for(inbound.channel)
    schedule_at = None
    if mode is DeliveryMode.PUSH:
        schedule_at = now + timedelta(seconds=config.coalesce_seconds)
    elif mode is DeliveryMode.HYBRID:
        # A safety net: if this request's turn dies, the worker answers the message.
        schedule_at = now + timedelta(
            seconds=config.coalesce_seconds + config.inline_seconds + config.reply_budget_seconds
        )
    owe_goodbye = persona.in_language(persona.opt_out_goodbye, language or "") is not None
    handoff = None
    if config.handoff_on_request and inbound.text and asks_for_human(inbound.text):
        handoff = HandoffRequest(until=now + config.handoff)
    # Inline without a coalesce window: the lease is taken and the state read in the
    # transaction that stores the message — one thread hop and one commit fewer.
    owner = (
        engine.new_owner() if mode is DeliveryMode.INLINE and not config.coalesce_seconds else None
    )
    safety_stop = safety_stop_for(inbound)
    facts = extract_facts(inbound.text) if inbound.text else ()

    def record(unit: WritingUnit) -> tuple[Recorded, ContactState | None]:
        recorded = unit.inbox.record(
            inbound,
            now,
            dedup_window=config.dedup_window,
            language=language,
            safety_stop=safety_stop,
            schedule_at=schedule_at,
            settle=config.settle,
            owe_goodbye=owe_goodbye,
            facts=facts,
            handoff=handoff,
        )
        if owner is None or not _answered_by_a_turn(recorded, inbound):
            return recorded, None
        state = unit.leases.claim_and_load(
            recorded.contact_id,
            owner,
            now,
            config.lease,
            config.history_messages,
            supersede=False,
            paused=recorded.paused,  # read by `record`, in this transaction
        )
        return recorded, state

    # Nothing is stored if this raises: the caller answers 503 so the sender retries.
    recorded, claimed = await engine.write(record)
    turn = Turn(
        contact_id=recorded.contact_id,
        subscriber=recorded.subscriber,
        message_id=recorded.message_id,
        started=started,
        # Only an inline reply must fit ManyChat's window; a hybrid turn that outlives the
        # webhook's wait is pushed when ready, like the worker's turns.
        deadline=started
        + (
            config.reply_budget_seconds
            if mode is DeliveryMode.INLINE
            else config.worker_budget_seconds
        ),
        in_response=mode is DeliveryMode.INLINE,
        recorded=recorded,
        repeat=recorded.retake,
        stage=STOPPED_STAGE if recorded.stopped else recorded.stage,
    )
    if recorded.retake:
        turn.message_id = recorded.duplicate_of
    leased = Leased(owner, claimed) if owner is not None and claimed is not None else None
    try:
        decision = await _decide(engine, turn, recorded, inbound, mode, leased)
    except Exception as exc:  # any failure is silence plus an event, never a canned text
        log.exception(
            "turn failed", extra={"contact": turn.contact_id, "subscriber": turn.subscriber}
        )
        decision = await engine.skip(turn, Reason.ERROR, error=describe(exc))
    engine.observe(turn, decision)
    await engine.guard(decision)
    return decision


def _answered_by_a_turn(recorded: Recorded, inbound: Inbound) -> bool:
    """A message `_decide` answers with a turn right away: none of its early decisions
    (duplicate, empty, safety stop, pause, handoff, stopped) applies."""
    return not (
        recorded.duplicate
        or (inbound.is_empty and not recorded.retake)
        or recorded.safety_stop is not None
        or recorded.paused
        or recorded.handoff
        or recorded.stopped
        or recorded.goodbye_due
    )


@dataclass(frozen=True, slots=True)
class Leased:
    """The lease taken, and the state read, in the transaction that stored the message."""

    owner: str
    state: ContactState


async def _decide(
    engine: Engine,
    turn: Turn,
    recorded: Recorded,
    inbound: Inbound,
    mode: DeliveryMode,
    leased: Leased | None = None,
) -> Decision:
    persona = engine.persona
    if recorded.duplicate:
        return await engine.skip(turn, Reason.DUPLICATE, duplicate_of=recorded.duplicate_of)
    if inbound.is_empty and not recorded.retake:
        return await engine.skip(turn, Reason.EMPTY)
    if recorded.safety_stop is Reason.MINOR:
        return await engine.stop(turn, Reason.MINOR)
    opted_out = recorded.safety_stop is Reason.OPT_OUT
    if recorded.paused:
        if opted_out:
            return await engine.stop(turn, Reason.OPT_OUT)
        return await engine.skip(turn, Reason.PAUSED)
    if opted_out and not recorded.goodbye_due:
        return await engine.stop(turn, Reason.OPT_OUT)
    if recorded.handoff:
        # A person answers this contact: stored, shown to them, and the bot stays quiet.
        return await engine.skip(turn, Reason.HANDOFF)
    if (
        recorded.stopped
        and not recorded.goodbye_due
        and not opted_out
        and persona.reactivate_after_days is None
    ):
        return await engine.skip(turn, Reason.STOPPED)

    if mode is DeliveryMode.PUSH:
        # Stored, and a turn is owed: the worker answers through the send API.
        return Decision.skip(Reason.QUEUED, turn.stage or persona.stages[0].name)
    if mode is DeliveryMode.HYBRID:
        return await _hybrid(engine, turn, opted_out)
    return await answer(engine, turn, opted_out, leased)


async def answer(
    engine: Engine, turn: Turn, opted_out: bool, leased: Leased | None = None
) -> Decision:
    """Wait out the coalesce window, take the lease (unless storing the message took it),
    run the turn. An opt-out's goodbye waits for any turn in flight (its commit is fenced
    off by the stop) and never gives way to a newer message."""
    config = engine.config
    if leased is not None:
        metrics.LEASE_CLAIMS.labels(result="acquired").inc()
        return await _run_leased(engine, turn, leased.owner, leased.state)
    if config.coalesce_seconds > 0 and not opted_out:
        await engine.clock.sleep(config.coalesce_seconds)
        if await _superseded(engine, turn):
            return await engine.skip(turn, Reason.COALESCED)
    owner = engine.new_owner()
    state = await _acquire_lease(engine, turn, owner, give_way_to_newer=not opted_out)
    if isinstance(state, Reason):
        return await engine.skip(turn, state)
    return await _run_leased(engine, turn, owner, state)


async def _run_leased(engine: Engine, turn: Turn, owner: str, state: ContactState) -> Decision:
    try:
        return await run_turn(engine, turn, owner, state)
    finally:
        if not turn.lease_released:
            await engine.write(lambda unit: unit.leases.release(turn.contact_id, owner))


async def _hybrid(engine: Engine, turn: Turn, opted_out: bool) -> Decision:
    """Answer inline if the turn is done in time; else let it finish in the background."""
    task = asyncio.create_task(_answer_in_background(engine, turn, opted_out))
    engine.background.add(task)
    task.add_done_callback(engine.background.discard)
    try:
        decision = await asyncio.wait_for(asyncio.shield(task), engine.config.inline_seconds)
    except TimeoutError:
        return Decision.skip(Reason.DEFERRED, turn.stage or engine.persona.stages[0].name)
    delivery_id = decision.delivery_id
    if decision.should_send and delivery_id is not None:
        now = engine.clock.now()
        taken = await engine.write(lambda unit: unit.outbox.take_for_response(delivery_id, now))
        if not taken:  # the worker got to it first, or a stop/pause fenced it off
            return Decision.skip(Reason.DEFERRED, decision.stage)
    return decision


async def _answer_in_background(engine: Engine, turn: Turn, opted_out: bool) -> Decision:
    try:
        return await answer(engine, turn, opted_out)
    except Exception as exc:
        log.exception(
            "turn failed", extra={"contact": turn.contact_id, "subscriber": turn.subscriber}
        )
        return await engine.skip(turn, Reason.ERROR, error=describe(exc))


async def _acquire_lease(
    engine: Engine, turn: Turn, owner: str, give_way_to_newer: bool
) -> ContactState | Reason:
    """Wait for the contact's lease (and its state, read under it); give up when a newer
    message or the budget wins."""
    clock = engine.clock
    while True:
        state = await _claim(engine, turn, owner)
        metrics.LEASE_CLAIMS.labels(result="acquired" if state else "blocked").inc()
        if state is not None:
            return state
        if give_way_to_newer and await _superseded(engine, turn):
            return Reason.COALESCED
        if clock.monotonic() >= turn.deadline:
            return Reason.BUSY
        await clock.sleep(_LEASE_POLL_SECONDS)


async def _claim(engine: Engine, turn: Turn, owner: str) -> ContactState | None:
    config, now = engine.config, engine.clock.now()
    return await engine.write(
        lambda unit: unit.leases.claim_and_load(
            turn.contact_id,
            owner,
            now,
            config.lease,
            config.history_messages,
            supersede=not turn.in_response,
        )
    )


async def _superseded(engine: Engine, turn: Turn) -> bool:
    newest = await engine.read(lambda reads: reads.newest_inbound_id(turn.contact_id))
    return newest is not None and turn.message_id is not None and newest > turn.message_id
