"""Human handoff and an operator's actions on one contact, each one write transaction.

- take over: the contact's row says who has it and until when; the bot's queued replies
  are withdrawn in the same transaction, and every later bot commit is fenced by the row
  (store/turns.py), so nothing the bot wrote goes out once a person has the contact;
- a person's message is a turn with the trigger `human:<key>` (one per key, ever): its
  message and delivery are written together, like a reply;
- stop and reset change the stop columns the turn fence and the delivery claim read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from dmpilot.domain.contacts import (
    RESETTABLE_STOPS,
    ActionOutcome,
    ContactActionResult,
    ContactInfo,
    ContactRef,
    HandbackReason,
    HandoffReason,
)
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.delivery import CancelReason, DeliveryKind, DeliveryState
from dmpilot.domain.follow_ups import FollowUpCancel
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.handoff import REFUSALS, Refusal, human_trigger, reset_refusal, send_refusal
from dmpilot.domain.repetition import text_key
from dmpilot.store.contacts import find_contact
from dmpilot.store.events import add_event
from dmpilot.store.follow_ups import cancel_follow_up
from dmpilot.store.outbox import cancel_pending, withdraw
from dmpilot.store.schema import contacts, deliveries, turns
from dmpilot.store.statements import Statements

HUMAN_OUTCOME = "human"  # turns.outcome of a person's message
# What the bot queued and a person taking over withdraws (the goodbyes only follow a stop,
# and a stopped contact is never taken over).
_BOT_KINDS = [
    DeliveryKind.REPLY.value,
    DeliveryKind.DISCLOSURE.value,
    DeliveryKind.BOUNDARY.value,
    DeliveryKind.NUDGE.value,
]
CLEARED_HANDOFF: dict[str, Any] = {
    "handoff_at": None,
    "handoff_until": None,
    "handoff_by": None,
    "handoff_reason": None,
}


class DuplicateHumanMessage(Exception):
    """A message with this key was queued already (a resubmitted form, a retried call)."""


def in_handoff(now: datetime) -> Any:
    return and_(contacts.c.handoff_until.is_not(None), contacts.c.handoff_until > now)


def take_over(
    db: Connection,
    sql: Statements,
    contact_id: int,
    now: datetime,
    until: datetime,
    by: str,
    reason: HandoffReason,
    message_id: int | None = None,
) -> bool:
    """Hand an active contact to a person; False if it is stopped or already handed off."""
    taken = db.execute(
        update(contacts)
        .where(
            contacts.c.id == contact_id,
            contacts.c.stopped_at.is_(None),
            or_(contacts.c.handoff_until.is_(None), contacts.c.handoff_until <= now),
        )
        .values(
            handoff_at=now,
            handoff_until=until,
            handoff_by=by[:64],
            handoff_reason=reason.value,
            turn_due_at=None,
            turn_attempts=0,
        )
    )
    if taken.rowcount != 1:
        return False
    d = deliveries
    withdrawn = db.execute(
        update(d)
        .where(d.c.contact_id == contact_id, d.c.state == DeliveryState.PENDING.value)
        .where(d.c.kind.in_(_BOT_KINDS))
        .values(
            state=DeliveryState.CANCELLED.value,
            last_error=CancelReason.HANDOFF.value,
            updated_at=now,
        )
        .returning(d.c.id, d.c.contact_id, d.c.message_id, d.c.turn_id, d.c.kind)
    ).all()
    withdraw(db, sql, withdrawn, CancelReason.HANDOFF.value, now)
    cancel_follow_up(db, contact_id, FollowUpCancel.HANDOFF, now)
    add_event(
        db,
        now,
        EventKind.HANDOFF,
        reason,
        contact_id=contact_id,
        message_id=message_id,
        detail={"by": by, "until": until.isoformat(timespec="seconds")},
    )
    return True


def end_handoff(
    db: Connection, contact_id: int, now: datetime, reason: HandbackReason, by: str | None
) -> bool:
    """Give the contact back to the bot; False if no person had it."""
    ended = db.execute(
        update(contacts)
        .where(contacts.c.id == contact_id, contacts.c.handoff_at.is_not(None))
        .values(**CLEARED_HANDOFF)
    )
    if ended.rowcount != 1:
        return False
    add_event(
        db,
        now,
        EventKind.HANDBACK,
        reason,
        contact_id=contact_id,
        detail={"by": by} if by else None,
    )
    return True


class Handoffs:
    """An operator's actions on one contact. Each returns what it did, never raises for a
    refusal: the refusal is an outcome with words an operator can act on."""

    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    def take_over(
        self, ref: ContactRef, now: datetime, until: datetime, by: str, reason: HandoffReason
    ) -> ContactActionResult:
        contact = find_contact(self.db, ref)
        if contact is None:
            return ContactActionResult(None)
        if contact.stopped_at is not None:
            return _refused(contact, Refusal.STOPPED)
        if take_over(self.db, self.sql, contact.id, now, until, by, reason):
            return self._done(contact, ActionOutcome.DONE)
        return ContactActionResult(contact, ActionOutcome.ALREADY)

    def hand_back(self, ref: ContactRef, now: datetime, by: str) -> ContactActionResult:
        contact = find_contact(self.db, ref)
        if contact is None:
            return ContactActionResult(None)
        live = contact.in_handoff(now)
        reason = HandbackReason.OPERATOR if live else HandbackReason.EXPIRED
        if end_handoff(self.db, contact.id, now, reason, by) and live:
            return self._done(contact, ActionOutcome.DONE)
        return ContactActionResult(find_contact(self.db, ref), ActionOutcome.ALREADY)

    def send(
        self,
        ref: ContactRef,
        text: str,
        key: str,
        now: datetime,
        until: datetime,
        by: str,
    ) -> ContactActionResult:
        """Queue a person's message (taking the contact over if no one had it). Raises
        DuplicateHumanMessage when the key was used, so the transaction rolls back."""
        db, sql = self.db, self.sql
        contact = find_contact(db, ref)
        if contact is None:
            return ContactActionResult(None)
        row = db.execute(
            select(contacts.c.last_inbound_at, contacts.c.channel).where(
                contacts.c.id == contact.id
            )
        ).one()
        trigger = human_trigger(key)
        taken = db.scalar(
            select(turns.c.id).where(turns.c.contact_id == contact.id, turns.c.trigger == trigger)
        )
        if taken is not None:
            raise DuplicateHumanMessage(key)
        refusal = send_refusal(contact, row.last_inbound_at, bool(db.scalar(sql.paused)), now)
        if refusal is not None:
            return _refused(contact, refusal)
        if not contact.in_handoff(now):
            take_over(db, sql, contact.id, now, until, by, HandoffReason.OPERATOR)
        stage = contact.stage or ""
        try:
            turn_id = db.execute(
                sql.insert_turn,
                {
                    "contact_id": contact.id,
                    "trigger": trigger,
                    # A person's answer answers everything the contact wrote before it.
                    "last_inbound_id": db.scalar(sql.newest_inbound, {"contact_id": contact.id})
                    or 0,
                    "stage": stage,
                    "outcome": HUMAN_OUTCOME,
                    "created_at": now,
                },
            ).scalar_one()
        except IntegrityError as exc:  # the same key, submitted twice at once
            raise DuplicateHumanMessage(key) from exc
        message_id = db.execute(
            sql.insert_message,
            {
                "contact_id": contact.id,
                "direction": "out",
                "kind": DeliveryKind.HUMAN.value,
                "text": text,
                "media_url": None,
                "language": None,
                "stage": contact.stage,
                "turn_id": turn_id,
                "exit_variant": None,
                "created_at": now,
                "text_key": text_key(text),
                "author": by[:64],
            },
        ).scalar_one()
        delivery_id: int = db.execute(
            sql.insert_delivery,
            {
                "contact_id": contact.id,
                "message_id": message_id,
                "turn_id": turn_id,
                "channel": row.channel,
                "recipient": contact.external_id,
                "kind": DeliveryKind.HUMAN.value,
                "text": text,
                "state": DeliveryState.PENDING.value,
                "via": None,
                "not_before": now,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
                "sent_at": None,
            },
        ).scalar_one()
        add_event(
            db,
            now,
            EventKind.HUMAN_REPLY,
            contact_id=contact.id,
            message_id=message_id,
            turn_id=turn_id,
            detail={"by": by, "delivery": delivery_id},
        )
        return self._done(contact, ActionOutcome.DONE, delivery_id)

    def stop(self, ref: ContactRef, now: datetime, by: str) -> ContactActionResult:
        db = self.db
        contact = find_contact(db, ref)
        if contact is None:
            return ContactActionResult(None)
        stopped = db.execute(
            update(contacts)
            .where(contacts.c.id == contact.id, contacts.c.stopped_at.is_(None))
            .values(
                stopped_at=now,
                stop_reason=Reason.OPERATOR.value,
                stage=STOPPED_STAGE,
                goodbye_due=False,
                turn_due_at=None,
                turn_attempts=0,
                **CLEARED_HANDOFF,
            )
        )
        if stopped.rowcount != 1:
            return ContactActionResult(contact, ActionOutcome.ALREADY)
        cancel_pending(db, self.sql, contact.id, CancelReason.STOPPED.value, now)
        add_event(
            db, now, EventKind.STOPPED, Reason.OPERATOR, contact_id=contact.id, detail={"by": by}
        )
        return self._done(contact, ActionOutcome.DONE)

    def reset(self, ref: ContactRef, now: datetime, by: str) -> ContactActionResult:
        """Start a funnel-stopped contact's funnel over: a new cycle, no stage yet. The
        statement itself refuses a minor, an opt-out and a customer, whatever was read."""
        db = self.db
        contact = find_contact(db, ref)
        if contact is None:
            return ContactActionResult(None)
        refusal = reset_refusal(contact)
        if refusal is not None:
            outcome = ActionOutcome.ALREADY if refusal is Refusal.NOT_STOPPED else None
            return _refused(contact, refusal, outcome)
        reset = db.execute(
            update(contacts)
            .where(
                contacts.c.id == contact.id,
                contacts.c.stopped_at.is_not(None),
                contacts.c.stop_reason.in_(sorted(RESETTABLE_STOPS)),
                contacts.c.converted_at.is_(None),
            )
            .values(
                stopped_at=None,
                stop_reason=None,
                stage=None,
                cycle_started_at=now,
                goodbye_due=False,
                turn_due_at=None,
                turn_attempts=0,
            )
        )
        if reset.rowcount != 1:  # stopped otherwise since it was read
            return _refused(find_contact(db, ref) or contact, Refusal.NOT_STOPPED)
        add_event(
            db,
            now,
            EventKind.RESET,
            contact.stop_reason,
            contact_id=contact.id,
            detail={"by": by},
        )
        return self._done(contact, ActionOutcome.DONE)

    def _done(
        self, contact: ContactInfo, outcome: ActionOutcome, delivery_id: int | None = None
    ) -> ContactActionResult:
        """The contact as it stands after the action."""
        ref = ContactRef.parse(f"id:{contact.id}")
        return ContactActionResult(
            find_contact(self.db, ref) or contact, outcome, delivery_id=delivery_id
        )


def _refused(
    contact: ContactInfo, refusal: Refusal, outcome: ActionOutcome | None = None
) -> ContactActionResult:
    return ContactActionResult(contact, outcome or ActionOutcome.REFUSED, REFUSALS[refusal])
