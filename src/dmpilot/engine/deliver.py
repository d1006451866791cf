"""The outbox's worker side: claim what is due, send it through the channel's Sender,
record what the channel said. Read `deliver_due` top to bottom.

The claim re-checks the fences (stop, pause, 24-hour window) and cancels what may no
longer go out. A send whose outcome is ambiguous is recorded `unknown` and never
retried: a missing message is better than a duplicate.
"""

from __future__ import annotations

import asyncio
import logging

from dmpilot import metrics
from dmpilot.domain.commands import DeliveryDue
from dmpilot.domain.delivery import DeliveryState, OutboundDelivery, SendResult
from dmpilot.engine.core import DeliveryReport, Engine, describe

log = logging.getLogger("dmpilot.delivery")


async def deliver_due(engine: Engine, command: DeliveryDue) -> DeliveryReport:
    config = engine.config
    owner = engine.new_owner()
    now = engine.clock.now()
    due = await engine.read(lambda reads: reads.work_due(now))
    if not due.deliveries:  # a read: idle workers never take SQLite's write lock
        return DeliveryReport()
    claim = await engine.write(
        lambda unit: unit.outbox.claim(
            now,
            owner,
            config.send_lease,
            command.limit,
            config.min_send_gap,
            config.sends_per_second,
        )
    )
    if claim.cancelled:
        metrics.DELIVERIES.labels(state=DeliveryState.CANCELLED.value).inc(claim.cancelled)
    if claim.expired:
        metrics.DELIVERIES.labels(state=DeliveryState.UNKNOWN.value).inc(claim.expired)
        log.error(
            "deliveries left unknown by a worker that died mid-send",
            extra={"count": claim.expired},
        )
    states = await asyncio.gather(*(_send(engine, owner, d) for d in claim.deliveries))
    count = {state: states.count(state) for state in DeliveryState}
    return DeliveryReport(
        rate_limited=claim.rate_limited,
        claimed=len(claim.deliveries),
        sent=count[DeliveryState.SENT],
        retried=count[DeliveryState.PENDING],
        failed=count[DeliveryState.FAILED],
        unknown=count[DeliveryState.UNKNOWN],
        cancelled=claim.cancelled,
        expired=claim.expired,
    )


async def _send(engine: Engine, owner: str, delivery: OutboundDelivery) -> DeliveryState | None:
    sender = engine.senders.get(delivery.channel)
    if sender is None:
        result = SendResult.failed(
            f"no sender for channel {delivery.channel!r}: set its API credentials "
            "(DMPILOT_MANYCHAT_API_KEY for ManyChat)"
        )
    else:
        try:
            result = await sender.send(delivery)
        except Exception as exc:  # a bug after the request may have left: never resend
            log.exception("sender failed", extra={"delivery": delivery.id})
            result = SendResult.unknown(describe(exc))
    now = engine.clock.now()
    jitter = engine.random.random()
    state = await engine.write(
        lambda unit: unit.outbox.record(
            delivery.id, owner, result, now, engine.config.send_retry, jitter
        )
    )
    if state is not None:
        metrics.DELIVERIES.labels(state=state.value).inc()
    if result.pause_account:
        await _pause_account(engine, delivery, result.error or "the channel refused the account")
    level = logging.INFO if state in (DeliveryState.SENT, DeliveryState.PENDING) else logging.ERROR
    log.log(
        level,
        "delivery",
        extra={
            "delivery": delivery.id,
            "contact": delivery.contact_id,
            "subscriber": delivery.recipient,
            "channel": delivery.channel,
            "state": state.value if state else "claim_lost",
            "attempt": delivery.attempts,
            "error": result.error,
        },
    )
    return state


async def _pause_account(engine: Engine, delivery: OutboundDelivery, error: str) -> None:
    """Every send would fail like this one (an expired token): pause the account, so
    nothing more is attempted, contact after contact, until an operator sets working
    credentials and resumes (replies that come due while paused are cancelled, as always)."""
    reason = f"{delivery.channel} refused the account's credentials: {error}"[:500]
    now = engine.clock.now()
    paused = await engine.write(
        lambda unit: unit.control.pause_if_running(reason, f"{delivery.channel}-sender", now)
    )
    if paused:
        log.error("account paused: the channel refused its credentials", extra={"error": error})
