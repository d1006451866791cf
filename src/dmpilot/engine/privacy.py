"""A contact's data: forgetting one (an operator's command) and the retention chore.

Both blank texts the same way (domain.privacy.Redaction): an outbound text that carried
the persona's link keeps the link, so the link budget and the audit still count it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from dmpilot.domain.commands import ForgetContact
from dmpilot.domain.contacts import ActionOutcome
from dmpilot.domain.ports import WritingUnit
from dmpilot.domain.privacy import ForgetResult, Redaction, RetentionBatch
from dmpilot.engine.core import Engine

log = logging.getLogger("dmpilot.privacy")

# A send or a turn in flight takes seconds: wait that long before refusing a forget.
BUSY_WAIT_SECONDS = 0.5
BUSY_ATTEMPTS = 20
RETENTION_BATCH = 500  # messages (and events) per transaction: short write locks
RETENTION_BATCHES = 20  # per run; the next run goes on from there
RETENTION_EVERY_SECONDS = 600.0


def redaction(engine: Engine) -> Redaction:
    return Redaction(link=engine.links.url, carries_link=engine.links.contains)


async def forget_contact(engine: Engine, command: ForgetContact) -> ForgetResult:
    """Forget the contact, waiting a little for a send or a turn in flight to end."""
    blank = redaction(engine)
    result = ForgetResult(None)
    for attempt in range(BUSY_ATTEMPTS):
        result = await engine.write(partial(_forget, command, engine.clock.now(), blank))
        if result.outcome is not ActionOutcome.REFUSED or attempt == BUSY_ATTEMPTS - 1:
            break
        await engine.clock.sleep(BUSY_WAIT_SECONDS)
    if result.outcome is ActionOutcome.DONE and result.contact is not None:
        log.info(
            "contact forgotten",
            extra={"contact": result.contact.id, "by": command.by, **result.scrubbed},
        )
    return result


async def apply_retention(engine: Engine, days: int) -> int:
    """Blank message texts older than `days`, a batch per transaction, up to
    RETENTION_BATCHES batches; returns how many messages and events were blanked."""
    blank = redaction(engine)
    done = 0
    for _ in range(RETENTION_BATCHES):
        batch = await engine.write(partial(_retain, engine.clock.now(), days, blank))
        done += batch.total
        if not batch.full:
            break
    if done:
        log.info("retention blanked old texts", extra={"rows": done, "days": days})
    return done


def _forget(
    command: ForgetContact, now: datetime, blank: Redaction, unit: WritingUnit
) -> ForgetResult:
    return unit.privacy.forget(command.contact, now, command.by, blank)


def _retain(now: datetime, days: int, blank: Redaction, unit: WritingUnit) -> RetentionBatch:
    return unit.privacy.retain(now - timedelta(days=days), now, blank, RETENTION_BATCH)
