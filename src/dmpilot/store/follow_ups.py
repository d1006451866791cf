"""Follow-ups: scheduled in a reply's commit, cancelled with a reason, claimed when due.

- at most one pending per contact: the row's key is the contact, and a newer reply
  reschedules it (an upsert);
- a due one is claimed like the worker's turns: the contact's row taken FOR UPDATE SKIP
  LOCKED on PostgreSQL (contacts before follow_ups, the order every writer locks them
  in), then the contact's lease by a conditional UPDATE;
- it is settled only while pending, so a cancel and a nudge never both happen; the nudge
  itself is the turn `nudge:<reply_id>` (store/turns.py), once ever.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Update, bindparam, false, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dmpilot.domain.decision import ContactState, EventKind, Reason
from dmpilot.domain.delivery import DeliveryState
from dmpilot.domain.follow_ups import DueFollowUp, FollowUpCancel, FollowUpState
from dmpilot.store.driver import execute
from dmpilot.store.events import add_event
from dmpilot.store.schema import contacts, deliveries, follow_ups, messages
from dmpilot.store.statements import Statements

if TYPE_CHECKING:
    from dmpilot.store.turns import Leases

_f = follow_ups
_PENDING = FollowUpState.PENDING.value

# Only a pending follow-up changes state: whoever settles it first decides.
_settle_any: Update = (
    update(_f)
    .where(_f.c.contact_id == bindparam("b_contact_id"), _f.c.state == _PENDING)
    .values(state=bindparam("b_state"), reason=bindparam("b_reason"), updated_at=bindparam("b_now"))
    .returning(_f.c.reply_id)
)
# … and only the one of the reply a nudge was written for.
_settle_reply: Update = _settle_any.where(_f.c.reply_id == bindparam("b_reply_id"))


@cache
def _schedule(dialect_name: str) -> Any:
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    row = insert(_f).values(
        contact_id=bindparam("contact_id"),
        reply_id=bindparam("reply_id"),
        stage=bindparam("stage"),
        due_at=bindparam("due_at"),
        state=_PENDING,
        claims=0,
        created_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    excluded = row.excluded
    return row.on_conflict_do_update(
        index_elements=[_f.c.contact_id],
        set_={
            "reply_id": excluded.reply_id,
            "stage": excluded.stage,
            "due_at": excluded.due_at,
            "state": _PENDING,
            "reason": None,
            "claims": 0,
            "created_at": excluded.created_at,
            "updated_at": excluded.updated_at,
        },
    )


def schedule_follow_up(
    db: Connection,
    sql: Statements,
    *,
    contact_id: int,
    reply_id: int,
    stage: str,
    due_at: datetime,
    now: datetime,
) -> None:
    """The follow-up of this reply, replacing whatever the contact's row held."""
    db.execute(
        _schedule(sql.dialect_name),
        {
            "contact_id": contact_id,
            "reply_id": reply_id,
            "stage": stage,
            "due_at": due_at,
            "now": now,
        },
    )


def settle_follow_up(
    db: Connection,
    contact_id: int,
    now: datetime,
    state: FollowUpState,
    reason: FollowUpCancel | Reason | None = None,
    *,
    reply_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move the contact's pending follow-up (of `reply_id`, if given) to `state`, with its
    event: `follow_up_cancelled` for a cancel, `skipped` for a nudge that could not be
    written. False when none was pending."""
    values: dict[str, Any] = {
        "b_contact_id": contact_id,
        "b_state": state.value,
        "b_reason": reason.value if reason is not None else None,
        "b_now": now,
    }
    if reply_id is None:
        follows = execute(db, _settle_any, values).scalar()
    else:
        follows = db.scalar(_settle_reply, {**values, "b_reply_id": reply_id})
    if follows is None:
        return False
    if state is not FollowUpState.SENT:
        kind = EventKind.SKIPPED if state is FollowUpState.FAILED else EventKind.FOLLOW_UP_CANCELLED
        # No message_id: an event naming an inbound message would count as its decision.
        add_event(
            db,
            now,
            kind,
            reason,
            contact_id=contact_id,
            detail={"follows": follows, **(detail or {})},
        )
    return True


def cancel_follow_up(
    db: Connection, contact_id: int, reason: FollowUpCancel, now: datetime
) -> bool:
    """Cancel the contact's pending follow-up, if any, with its event."""
    return settle_follow_up(db, contact_id, now, FollowUpState.CANCELLED, reason)


class FollowUps:
    __slots__ = ("db", "leases", "sql")

    def __init__(self, db: Connection, sql: Statements, leases: Leases) -> None:
        self.db = db
        self.sql = sql
        self.leases = leases

    def claim(
        self, owner: str, now: datetime, ttl: timedelta, history_limit: int
    ) -> tuple[DueFollowUp, ContactState] | None:
        """Take the lease of a contact whose follow-up is due, and read what deciding the
        nudge needs; None when none is due or its contact is busy."""
        db, sql, c = self.db, self.sql, contacts
        lease_free = or_(c.c.lease_expires_at.is_(None), c.c.lease_expires_at <= now)
        pick = (
            select(_f.c.contact_id)
            .join(c, c.c.id == _f.c.contact_id)
            .where(_f.c.state == _PENDING, _f.c.due_at <= now, lease_free)
            .order_by(_f.c.due_at)
            .limit(1)
        )
        if sql.dialect_name == "postgresql":
            pick = pick.with_for_update(of=c, skip_locked=True)
        contact_id = db.scalar(pick)
        if contact_id is None:
            return None
        ids = {"contact_id": contact_id}
        taken = db.execute(
            sql.claim_lease, {**ids, "owner": owner, "now": now, "expires": now + ttl}
        )
        if taken.rowcount != 1:
            return None
        row = db.execute(
            update(_f)
            .where(_f.c.contact_id == contact_id)
            .values(claims=_f.c.claims + 1, updated_at=now)
            .returning(_f.c.reply_id, _f.c.stage, _f.c.due_at, _f.c.claims)
        ).one()
        m, d = messages, deliveries
        reply = db.execute(
            select(m.c.language, m.c.created_at, d.c.state)
            .outerjoin(d, d.c.message_id == m.c.id)
            .where(m.c.id == row.reply_id)
        ).first()
        cycle_started_at = db.scalar(select(c.c.cycle_started_at).where(c.c.id == contact_id))
        newest_outbound = db.scalar(
            select(func.max(m.c.id)).where(
                m.c.contact_id == contact_id, m.c.direction == "out", m.c.cancelled.is_(false())
            )
        )
        state = self.leases.state(contact_id, history_limit)
        due = DueFollowUp(
            contact_id=contact_id,
            reply_id=row.reply_id,
            stage=row.stage,
            due_at=row.due_at,
            claims=row.claims,
            # A reply gone from the table (never, today) cancels it rather than failing
            # every claim: it is not known to have reached the contact.
            reply_language=reply.language if reply else None,
            reply_delivered=reply is not None and reply.state == DeliveryState.SENT.value,
            reply_in_cycle=reply is None or reply.created_at >= cycle_started_at,
            newest_inbound_id=db.scalar(sql.newest_inbound, ids) or 0,
            newest_outbound_id=newest_outbound or 0,
        )
        return due, replace(state, paused=bool(db.scalar(sql.paused)))

    def settle(
        self,
        contact_id: int,
        reply_id: int,
        now: datetime,
        state: FollowUpState,
        reason: FollowUpCancel | Reason,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        return settle_follow_up(
            self.db, contact_id, now, state, reason, reply_id=reply_id, detail=detail
        )
