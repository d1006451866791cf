"""What operators ask: the kill switch, marking a contact converted; and housekeeping."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dmpilot.domain.commands import (
    MarkConverted,
    Pause,
    RecordClick,
    RecoverInterrupted,
    Resume,
)
from dmpilot.domain.contacts import ContactInfo, ConvertOutcome
from dmpilot.domain.control import ControlState
from dmpilot.domain.ports import WritingUnit
from dmpilot.engine.core import Engine


async def switch(engine: Engine, command: Pause | Resume) -> ControlState:
    now = engine.clock.now()
    if isinstance(command, Pause):
        return await engine.write(
            lambda unit: unit.control.set_paused(True, command.reason, command.by, now)
        )
    return await engine.write(lambda unit: unit.control.set_paused(False, None, command.by, now))


@dataclass(frozen=True, slots=True)
class ConvertResult:
    contact: ContactInfo | None  # None: no contact matches the reference
    outcome: ConvertOutcome | None = None


async def mark_converted(engine: Engine, command: MarkConverted) -> ConvertResult:
    now = engine.clock.now()

    def work(unit: WritingUnit) -> ConvertResult:
        contact = unit.contacts.find(command.contact)
        if contact is None:
            return ConvertResult(None)
        return ConvertResult(contact, unit.contacts.mark_converted(contact, now, command.by))

    return await engine.write(work)


async def record_click(engine: Engine, command: RecordClick) -> bool:
    now = engine.clock.now()
    return await engine.write(
        lambda unit: unit.links.record_click(command.token, now, command.user_agent)
    )


async def recover_interrupted(engine: Engine, command: RecoverInterrupted) -> int:
    """Give every message whose turn died with its process an `interrupted` event, so
    history and audit explain the silence instead of showing a message never decided."""
    now = engine.clock.now()
    found = await engine.write(
        lambda unit: unit.inbox.mark_interrupted(
            now, before=now - engine.config.abandoned_after, since=now - command.lookback
        )
    )
    if found:
        logging.getLogger("dmpilot.engine").warning(
            "%d message%s lost %s turn when a process stopped mid-turn; recorded as interrupted",
            found,
            "" if found == 1 else "s",
            "its" if found == 1 else "their",
        )
    return found
