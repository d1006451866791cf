"""What a channel reports besides messages: stored in one transaction, never answered.

An echo a person wrote from the Instagram app hands the contact to them for
DMPILOT_HANDOFF_HOURS; the bot's queued replies are withdrawn in the same transaction.
"""

from __future__ import annotations

import logging

from dmpilot import metrics
from dmpilot.domain.channel_events import ChannelEventResult
from dmpilot.domain.commands import RecordChannelEvent
from dmpilot.engine.core import Engine

log = logging.getLogger("dmpilot.engine")


async def record_channel_event(engine: Engine, command: RecordChannelEvent) -> ChannelEventResult:
    event = command.event
    now = engine.clock.now()
    until = now + engine.config.handoff
    result = await engine.write(lambda unit: unit.channel_events.record(event, now, until))
    outcome = result.echo.value if result.echo else event.kind.value
    metrics.CHANNEL_EVENTS.labels(channel=event.channel, kind=outcome).inc()
    if result.handed_off:
        log.info(
            "a person answered from the app: the contact is handed to them",
            extra={"contact": result.contact_id, "subscriber": event.contact_external_id},
        )
    return result
