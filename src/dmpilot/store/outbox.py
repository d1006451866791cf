"""The outbox: claiming due deliveries under a lease, fencing them, recording outcomes.

- A claim is one transaction: deliveries whose worker died mid-send become `unknown`;
  due deliveries that may no longer go out (kill switch, stopped contact, closed 24-hour
  window, a nudge to a contact who wrote since) are cancelled; then the earliest due
  delivery of each contact is taken, at most `limit`, within the account's send rate and
  each contact's minimum gap.
- PostgreSQL takes the rows with FOR UPDATE SKIP LOCKED under a transaction-scoped
  advisory lock (so the account-wide rate holds across workers); SQLite serialises
  writers anyway, so the conditional UPDATE is enough.
- An outcome is recorded only by the worker that holds the claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, exists, func, not_, or_, select, text, update
from sqlalchemy.orm import aliased

from dmpilot.domain.decision import EventKind
from dmpilot.domain.delivery import (
    MESSAGING_WINDOW,
    CancelReason,
    Claim,
    DeliveryKind,
    DeliveryState,
    OutboundDelivery,
    RetryPolicy,
    SendResult,
    SendStatus,
)
from dmpilot.store.events import add_event
from dmpilot.store.schema import contacts, control, deliveries
from dmpilot.store.statements import PENDING, SENDING, Statements

_PG_CLAIM_LOCK = 0x646D_6F62  # any fixed number, shared by every dmpilot worker
_ENDS_CONVERSATION = [k.value for k in DeliveryKind if k.ends_conversation]
_UNFINISHED = [PENDING, SENDING]


def withdraw(
    db: Connection, sql: Statements, rows: Iterable[Any], reason: str, now: datetime
) -> int:
    """Cancelled deliveries never reached the contact: their message leaves the history
    and the funnel count, and what their turn answered is pending again."""
    count = 0
    for row in rows:
        db.execute(sql.withdraw_message, {"b_message_id": row.message_id})
        if row.turn_id is not None:
            db.execute(sql.withdraw_turn, {"b_turn_id": row.turn_id})
        add_event(
            db,
            now,
            EventKind.DELIVERY_CANCELLED,
            reason,
            contact_id=row.contact_id,
            message_id=row.message_id,
            turn_id=row.turn_id,
            detail={"delivery": row.id, "kind": row.kind},
        )
        count += 1
    return count


def _delivery(row: Row[Any]) -> OutboundDelivery:
    return OutboundDelivery(
        id=row.id,
        channel=row.channel,
        contact_id=row.contact_id,
        recipient=row.recipient,
        text=row.text,
        kind=DeliveryKind(row.kind),
        attempts=row.attempts,
    )


class Outbox:
    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    # -- claiming ----------------------------------------------------------------------

    def claim(
        self,
        now: datetime,
        owner: str,
        ttl: timedelta,
        limit: int,
        min_gap: timedelta,
        per_second: int,
    ) -> Claim:
        db = self.db
        postgres = self.sql.dialect_name == "postgresql"
        if postgres:
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CLAIM_LOCK})
        expired = self._expire_lost_claims(now)
        cancelled = self._fence(now)
        recent = db.scalar(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.claimed_at > now - timedelta(seconds=1))
        )
        room = min(limit, per_second - int(recent or 0))
        if room <= 0:
            return Claim([], cancelled, expired, rate_limited=True)

        d = deliveries
        earlier = aliased(deliveries)
        ids = (
            select(d.c.id)
            .where(
                d.c.state == PENDING,
                d.c.not_before <= now,
                # One at a time per contact, in order: never overtake an earlier one.
                not_(
                    exists().where(
                        earlier.c.contact_id == d.c.contact_id,
                        earlier.c.id != d.c.id,
                        or_(
                            and_(earlier.c.state == PENDING, earlier.c.id < d.c.id),
                            earlier.c.state == SENDING,
                            earlier.c.sent_at > now - min_gap,
                        ),
                    )
                ),
            )
            .order_by(d.c.not_before, d.c.id)
            .limit(room)
        )
        if postgres:
            ids = ids.with_for_update(of=d, skip_locked=True)
        chosen = db.scalars(ids).all()
        if not chosen:
            return Claim([], cancelled, expired)
        rows = db.execute(
            update(d)
            .where(d.c.id.in_(chosen), d.c.state == PENDING)
            .values(
                state=SENDING,
                claimed_by=owner,
                claimed_at=now,
                claim_expires_at=now + ttl,
                attempts=d.c.attempts + 1,
                updated_at=now,
            )
            .returning(
                d.c.id,
                d.c.channel,
                d.c.contact_id,
                d.c.recipient,
                d.c.text,
                d.c.kind,
                d.c.attempts,
            )
        ).all()
        claimed = sorted((_delivery(row) for row in rows), key=lambda x: x.id)
        return Claim(claimed, cancelled, expired)

    def _expire_lost_claims(self, now: datetime) -> int:
        """A worker that died after claiming may have sent: the outcome is unknown."""
        d = deliveries
        rows = self.db.execute(
            update(d)
            .where(d.c.state == SENDING, d.c.claim_expires_at <= now)
            .values(
                state=DeliveryState.UNKNOWN.value,
                last_error="the worker's claim expired during the send",
                updated_at=now,
            )
            .returning(d.c.id, d.c.contact_id, d.c.message_id, d.c.turn_id, d.c.claimed_by)
        ).all()
        for row in rows:
            add_event(
                self.db,
                now,
                EventKind.DELIVERY_UNKNOWN,
                "claim_expired",
                contact_id=row.contact_id,
                message_id=row.message_id,
                turn_id=row.turn_id,
                detail={"delivery": row.id, "worker": row.claimed_by},
            )
        return len(rows)

    def _fence(self, now: datetime) -> int:
        """Cancel due deliveries that may no longer go out, each with its reason."""
        d, c = deliveries, contacts
        due = and_(d.c.state == PENDING, d.c.not_before <= now)
        cancelled = 0
        paused = bool(self.db.scalar(select(control.c.paused).where(control.c.id == 1)))
        fences: list[tuple[CancelReason, Any]] = []
        if paused:
            fences.append((CancelReason.PAUSED, due))
        stopped = select(c.c.id).where(c.c.stopped_at.is_not(None))
        fences.append(
            (
                CancelReason.STOPPED,
                and_(due, d.c.kind.not_in(_ENDS_CONVERSATION), d.c.contact_id.in_(stopped)),
            )
        )
        silent = select(c.c.id).where(c.c.last_inbound_at < now - MESSAGING_WINDOW)
        fences.append((CancelReason.WINDOW_CLOSED, and_(due, d.c.contact_id.in_(silent))))
        # A nudge to a contact who wrote since it was queued would follow up on nothing.
        answered = exists().where(c.c.id == d.c.contact_id, c.c.last_inbound_at >= d.c.created_at)
        fences.append(
            (CancelReason.CONTACT_WROTE, and_(due, d.c.kind == DeliveryKind.NUDGE.value, answered))
        )
        for reason, condition in fences:
            rows = self.db.execute(
                update(d)
                .where(condition)
                .values(
                    state=DeliveryState.CANCELLED.value, last_error=reason.value, updated_at=now
                )
                .returning(d.c.id, d.c.contact_id, d.c.message_id, d.c.turn_id, d.c.kind)
            ).all()
            cancelled += withdraw(self.db, self.sql, rows, reason.value, now)
        return cancelled

    # -- outcomes ----------------------------------------------------------------------

    def record(
        self,
        delivery_id: int,
        owner: str,
        result: SendResult,
        now: datetime,
        policy: RetryPolicy,
        jitter: float,
    ) -> DeliveryState | None:
        """Record what the channel said; None if this worker no longer holds the claim."""
        d = deliveries
        row = self.db.execute(
            select(
                d.c.contact_id,
                d.c.message_id,
                d.c.turn_id,
                d.c.attempts,
                d.c.state,
                d.c.provider_message_id,
            ).where(d.c.id == delivery_id, d.c.claimed_by == owner)
        ).first()
        # An `unknown` set by an expired claim may still learn that the send went out.
        if row is None or row.state not in (SENDING, DeliveryState.UNKNOWN.value):
            return None
        values: dict[str, Any] = {"updated_at": now, "claim_expires_at": None}
        detail: dict[str, Any] = {"delivery": delivery_id, "attempts": row.attempts}
        if row.provider_message_id is not None and result.status is not SendStatus.SENT:
            # The channel's echo of this very message already came back: it went out,
            # whatever the answer to the send said. Retrying would send it twice.
            result = SendResult.sent(row.provider_message_id)
            detail["confirmed_by"] = "echo"
        if result.status is SendStatus.SENT:
            state, kind = DeliveryState.SENT, EventKind.DELIVERED
            values |= {
                "sent_at": now,
                "via": "api",
                "provider_message_id": result.provider_message_id or row.provider_message_id,
            }
        elif result.status is SendStatus.RETRY and row.attempts < policy.max_attempts:
            state, kind = DeliveryState.PENDING, EventKind.DELIVERY_RETRY
            wait = policy.delay(row.attempts, result.retry_after_seconds, jitter)
            values["not_before"] = now + timedelta(seconds=wait)
            detail["retry_in_seconds"] = round(wait, 2)
        elif result.status is SendStatus.UNKNOWN:
            state, kind = DeliveryState.UNKNOWN, EventKind.DELIVERY_UNKNOWN
        else:
            state, kind = DeliveryState.FAILED, EventKind.DELIVERY_FAILED
        values |= {"state": state.value, "last_error": result.error}
        if result.error:
            detail["error"] = result.error[:500]
        self.db.execute(update(d).where(d.c.id == delivery_id).values(**values))
        if state is DeliveryState.FAILED:
            # Never delivered: it leaves the history and the link budget like a cancel.
            self.db.execute(self.sql.withdraw_message, {"b_message_id": row.message_id})
        add_event(
            self.db,
            now,
            kind,
            state.value,
            contact_id=row.contact_id,
            message_id=row.message_id,
            turn_id=row.turn_id,
            detail=detail,
        )
        return state

    def release(self, delivery_ids: Sequence[int], owner: str, now: datetime) -> int:
        """Hand back claims whose send never started (graceful shutdown)."""
        if not delivery_ids:
            return 0
        d = deliveries
        result = self.db.execute(
            update(d)
            .where(d.c.id.in_(delivery_ids), d.c.claimed_by == owner, d.c.state == SENDING)
            .values(
                state=PENDING,
                attempts=d.c.attempts - 1,
                claimed_by=None,
                claim_expires_at=None,
                updated_at=now,
            )
        )
        return result.rowcount

    def take_for_response(self, delivery_id: int, now: datetime) -> bool:
        """Hybrid mode: send a reply that became ready in time in the webhook response,
        if it is still pending and still allowed (no stop, no pause since the commit)."""
        row = self.db.execute(self.sql.delivery_contact, {"id": delivery_id}).first()
        if row is None or row.state != PENDING:
            return False
        if self.db.scalar(self.sql.paused):
            return False
        if row.stopped_at is not None and not DeliveryKind(row.kind).ends_conversation:
            return False
        taken = self.db.execute(self.sql.take_for_response, {"b_id": delivery_id, "b_now": now})
        return taken.rowcount == 1


def cancel_pending(
    db: Connection, sql: Statements, contact_id: int, reason: str, now: datetime
) -> list[Any]:
    """Cancel every pending delivery of a contact (a safety stop arrived)."""
    rows = db.execute(
        sql.cancel_pending_of_contact,
        {"b_contact_id": contact_id, "b_why": reason, "b_now": now},
    ).all()
    withdraw(db, sql, [_with_contact(row, contact_id) for row in rows], reason, now)
    return list(rows)


def cancel_superseded(
    db: Connection, sql: Statements, contact_id: int, newest: int, now: datetime
) -> datetime | None:
    """Cancel queued replies a newer turn will cover; the earliest slot they held."""
    rows = db.execute(
        sql.cancel_superseded, {"b_contact_id": contact_id, "b_newest": newest, "b_now": now}
    ).all()
    withdraw(
        db,
        sql,
        [_with_contact(row, contact_id) for row in rows],
        CancelReason.SUPERSEDED.value,
        now,
    )
    return min((row.not_before for row in rows), default=None)


@dataclass(frozen=True, slots=True)
class _Cancelled:
    id: int
    contact_id: int
    message_id: int
    turn_id: int | None
    kind: str
    not_before: datetime


def _with_contact(row: Row[Any], contact_id: int) -> _Cancelled:
    return _Cancelled(row.id, contact_id, row.message_id, row.turn_id, row.kind, row.not_before)
