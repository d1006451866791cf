"""What an operator does to one contact: take it over, write to it, give it back, stop it,
start its funnel over. Each is one write transaction (store/handoff.py); a refusal is an
outcome with its reason, never an exception."""

from __future__ import annotations

from dmpilot.domain.commands import HandBack, ResetContact, SendAsHuman, StopContact, TakeOver
from dmpilot.domain.contacts import ActionOutcome, ContactActionResult
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.domain.handoff import (
    REFUSALS,
    Refusal,
    clean_human_text,
    key_refusal,
    text_refusal,
)
from dmpilot.engine.core import Engine
from dmpilot.store.handoff import DuplicateHumanMessage


async def take_over(engine: Engine, command: TakeOver) -> ContactActionResult:
    now = engine.clock.now()
    until = now + engine.config.handoff
    return await engine.write(
        lambda unit: unit.handoffs.take_over(
            command.contact, now, until, command.by, command.reason
        )
    )


async def hand_back(engine: Engine, command: HandBack) -> ContactActionResult:
    now = engine.clock.now()
    return await engine.write(
        lambda unit: unit.handoffs.hand_back(command.contact, now, command.by)
    )


async def send_as_human(engine: Engine, command: SendAsHuman) -> ContactActionResult:
    """Queue a person's message for the delivery worker. Inline delivery has no worker that
    could send it: refused there, before anything is written."""
    text = clean_human_text(command.text)
    refusal = text_refusal(text) or key_refusal(command.key)
    if refusal is not None or engine.config.delivery is DeliveryMode.INLINE:
        found = await engine.read(lambda reads: reads.find_contact(command.contact))
        if found is None:
            return ContactActionResult(None)
        if refusal is None and engine.config.delivery_for(found.channel) is DeliveryMode.INLINE:
            refusal = Refusal.INLINE
        if refusal is not None:
            return ContactActionResult(found, ActionOutcome.REFUSED, REFUSALS[refusal])
    now = engine.clock.now()
    until = now + engine.config.handoff
    try:
        return await engine.write(
            lambda unit: unit.handoffs.send(
                command.contact, text, command.key, now, until, command.by
            )
        )
    except DuplicateHumanMessage:
        found = await engine.read(lambda reads: reads.find_contact(command.contact))
        return ContactActionResult(found, ActionOutcome.DUPLICATE)


async def stop_contact(engine: Engine, command: StopContact) -> ContactActionResult:
    now = engine.clock.now()
    return await engine.write(lambda unit: unit.handoffs.stop(command.contact, now, command.by))


async def reset_contact(engine: Engine, command: ResetContact) -> ContactActionResult:
    now = engine.clock.now()
    return await engine.write(lambda unit: unit.handoffs.reset(command.contact, now, command.by))
