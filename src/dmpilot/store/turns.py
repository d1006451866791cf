"""The turn lease, a contact's state under it, and committing or skipping a turn.

- one turn in flight per contact: a conditional UPDATE takes an expiring lease;
- one reply per turn: UNIQUE(turns.contact_id, trigger) and UNIQUE(messages.turn_id);
- stop before exit: the stop and the exit message commit together, fenced by the lease;
- one delivery per message: the delivery row is written in the same transaction;
- a reply schedules its follow-up, and a nudge settles it, in that same transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Update, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from dmpilot.domain.decision import ContactState, EventKind, MessageView, Reason
from dmpilot.domain.delivery import DeliveryState, DeliveryVia
from dmpilot.domain.follow_ups import FollowUpState
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.repetition import text_key
from dmpilot.domain.turns import (
    AfterKind,
    AfterSkip,
    CommitKind,
    Committed,
    TurnCommit,
    TurnRejected,
)
from dmpilot.store.driver import execute
from dmpilot.store.events import add_event
from dmpilot.store.follow_ups import schedule_follow_up, settle_follow_up
from dmpilot.store.outbox import cancel_superseded
from dmpilot.store.schema import contacts, exit_rotation, link_tokens
from dmpilot.store.statements import USAGE_COLUMNS, Statements

_OUTCOMES = {CommitKind.EXIT: "exit", CommitKind.GOODBYE: "goodbye", CommitKind.NUDGE: "nudge"}
_fences: dict[tuple[CommitKind, bool], Update] = {}


def _fence(kind: CommitKind, reactivate: bool) -> Update:
    """UPDATE that proves the turn still holds a live lease and may speak, records the
    stage (and the stop, for an exit), settles the owed turn and releases the lease."""
    key = (kind, reactivate)
    statement = _fences.get(key)
    if statement is not None:
        return statement
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    if kind is not CommitKind.NUDGE:  # a nudge answers nothing: a turn owed stays owed
        values |= {"turn_due_at": None, "turn_attempts": 0}
    may_speak: ColumnElement[bool]
    if kind is CommitKind.NUDGE:
        # Never to a stopped or converted contact, and the stage stays as it is.
        may_speak = contacts.c.stopped_at.is_(None) & contacts.c.converted_at.is_(None)
    elif kind is CommitKind.GOODBYE:
        # The opt-out already stopped the contact; only the goodbye it is owed may follow.
        may_speak = (contacts.c.stop_reason == Reason.OPT_OUT.value) & contacts.c.goodbye_due
        values["goodbye_due"] = False
    elif reactivate:
        may_speak = contacts.c.stopped_at.is_not(None)
        values |= {
            "stopped_at": None,
            "stop_reason": None,
            "cycle_started_at": bindparam("now"),
            "stage": bindparam("new_stage"),
        }
    else:
        may_speak = contacts.c.stopped_at.is_(None)
        values["stage"] = bindparam("new_stage")
    if kind is not CommitKind.GOODBYE:
        # A person took the contact over: the bot's turn may not speak over them.
        may_speak = may_speak & or_(
            contacts.c.handoff_until.is_(None), contacts.c.handoff_until <= bindparam("now")
        )
    if kind is CommitKind.EXIT:
        values |= {
            "stopped_at": bindparam("now"),
            "stop_reason": bindparam("b_stop_reason"),
            "stage": STOPPED_STAGE,
        }
    statement = (
        update(contacts)
        .where(
            contacts.c.id == bindparam("contact_id"),
            contacts.c.lease_owner == bindparam("owner"),
            contacts.c.lease_expires_at > bindparam("now"),
            may_speak,
        )
        .values(**values)
    )
    _fences[key] = statement
    return statement


class Leases:
    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    def claim_and_load(
        self,
        contact_id: int,
        owner: str,
        now: datetime,
        ttl: timedelta,
        history_limit: int,
        *,
        supersede: bool = True,
        paused: bool | None = None,
    ) -> ContactState | None:
        """Take the contact's lease and read its state in one transaction; None if taken.
        `supersede=False` skips looking for queued replies (inline delivery queues none).
        `paused`: the kill switch as this transaction already read it, not read again."""
        claimed = execute(
            self.db,
            self.sql.claim_lease,
            {"contact_id": contact_id, "owner": owner, "now": now, "expires": now + ttl},
        )
        if claimed.rowcount != 1:
            return None
        return self._load(contact_id, now, history_limit, supersede, paused)

    def claim_due_and_load(
        self, owner: str, now: datetime, ttl: timedelta, history_limit: int
    ) -> ContactState | None:
        """Take the lease of a contact the worker owes a turn to, if one is due and free."""
        contact_id = self.db.scalar(
            self.sql.claim_due_lease, {"owner": owner, "now": now, "expires": now + ttl}
        )
        if contact_id is None:
            return None
        return self._load(contact_id, now, history_limit)

    def release(self, contact_id: int, owner: str) -> None:
        self.db.execute(self.sql.release_lease, {"contact_id": contact_id, "owner": owner})

    def _load(
        self,
        contact_id: int,
        now: datetime,
        history_limit: int,
        supersede: bool = True,
        paused: bool | None = None,
    ) -> ContactState:
        """The state under the lease. Queued replies this turn will cover are cancelled
        first: the new reply answers everything, in the earliest slot they held."""
        sql = self.sql
        superseded_at = None
        if supersede:
            newest = self.db.scalar(sql.newest_inbound, {"contact_id": contact_id})
            if newest:
                superseded_at = cancel_superseded(self.db, sql, contact_id, newest, now)
        state = self.state(contact_id, history_limit)
        if not state.recent_replies:
            engaged = execute(self.db, sql.budget_used, {"day": now.date()}).scalar() or 0
            state = replace(state, new_conversations_today=engaged)
        if paused is None:
            paused = bool(execute(self.db, sql.paused, {}).scalar())
        return replace(state, superseded_not_before=superseded_at, paused=paused)

    def state(self, contact_id: int, history_limit: int, recent_limit: int = 20) -> ContactState:
        db, sql = self.db, self.sql
        ids = {"contact_id": contact_id}
        contact = execute(db, sql.contact, ids).one()
        pending = execute(db, sql.pending, ids).all()[::-1]  # oldest first
        history = execute(db, sql.history, {**ids, "limit": history_limit}).all()
        cycle = execute(
            db, sql.cycle_outbound, {**ids, "cycle_started_at": contact.cycle_started_at}
        ).all()
        replies = execute(db, sql.recent_replies, {**ids, "limit": recent_limit}).all()
        recent = [text for (text,) in replies]
        return ContactState(
            contact_id=contact_id,
            external_id=contact.external_id,
            name=contact.name,
            language=contact.language,
            stopped_at=contact.stopped_at,
            stop_reason=contact.stop_reason,
            converted_at=contact.converted_at,
            cycle_outbound=tuple((kind, text, stage) for kind, text, stage in cycle),
            history=tuple(MessageView(*row) for row in reversed(history)),
            pending=tuple(MessageView(*row) for row in pending),
            recent_replies=tuple(recent),
            last_inbound_at=contact.last_inbound_at,
            stage=contact.stage,
            known={kind: value for kind, value in execute(db, sql.facts, ids).all()},
            channel=contact.channel,
            turn_attempts=contact.turn_attempts or 0,
            goodbye_due=bool(contact.goodbye_due),
            handoff_until=contact.handoff_until,
        )


class Turns:
    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    def commit(self, turn: TurnCommit) -> Committed:
        """Commit a reply (or an exit together with the stop) and its delivery, if this turn
        may still speak.

        The fence comes first: it proves the lease (fencing a turn that outlived it) and
        locks the contact, so the checks after it see every message stored before. Then the
        kill switch, that no newer message arrived (a newer turn will answer everything),
        and the daily budget of new conversations. The lease is released on success.
        """
        db, sql = self.db, self.sql
        ids = {"contact_id": turn.contact_id}
        fenced = execute(
            db,
            _fence(turn.kind, turn.reactivate),
            {
                **ids,
                "owner": turn.owner,
                "now": turn.now,
                "new_stage": turn.stage,
                "b_stop_reason": turn.stop_reason.value,
            },
        )
        if fenced.rowcount != 1:
            raise TurnRejected(self._why_fenced(turn))
        paused, newest = execute(db, sql.paused_and_newest, ids).one()
        if paused:
            raise TurnRejected(Reason.PAUSED)
        # A goodbye answers an opt-out, and never gives way to a newer message.
        newer = newest is not None and newest > turn.last_inbound_id
        if newer and turn.kind is not CommitKind.GOODBYE:
            raise TurnRejected(Reason.COALESCED)
        if turn.new_conversation_limit is not None:
            claimed = execute(
                db, sql.claim_budget, {"day": turn.now.date(), "limit": turn.new_conversation_limit}
            )
            if claimed.first() is None:
                raise TurnRejected(Reason.BUDGET)
        if turn.follows is not None and not settle_follow_up(
            db, turn.contact_id, turn.now, FollowUpState.SENT, reply_id=turn.follows
        ):
            raise TurnRejected(Reason.DUPLICATE)  # settled meanwhile (a click, a cancel)

        text, variant = turn.text, None
        if turn.is_exit and turn.exit_texts:  # the persona's lines: one, never twice in a row
            variant = self._rotate_exit(turn)
            text = turn.exit_texts[variant]
        try:
            turn_id = execute(
                db,
                sql.insert_turn,
                {
                    "contact_id": turn.contact_id,
                    "trigger": turn.trigger,
                    "last_inbound_id": turn.last_inbound_id,
                    "stage": turn.stage,
                    "outcome": _OUTCOMES.get(turn.kind, "sent"),
                    "created_at": turn.now,
                },
            ).scalar_one()
        except IntegrityError as exc:
            raise TurnRejected(Reason.DUPLICATE) from exc
        message_id = delivery_id = None
        if text:  # an exit may be silent: the stop without a goodbye
            message_id, delivery_id = self._outbound(turn, turn_id, text, variant)
        detail = {**turn.detail, "delivery": delivery_id}
        if variant is not None:
            detail["exit_variant"] = variant
        if turn.kind is CommitKind.DISCLOSURE:
            detail["disclosure"] = True
        follow_up = turn.follow_up
        if follow_up is not None and follow_up.due_at is not None and message_id is not None:
            schedule_follow_up(
                db,
                sql,
                contact_id=turn.contact_id,
                reply_id=message_id,
                stage=turn.stage,
                due_at=follow_up.due_at,
                now=turn.now,
            )
            detail["follow_up_at"] = follow_up.due_at.isoformat(timespec="seconds")
        reason = {CommitKind.EXIT: turn.stop_reason, CommitKind.GOODBYE: Reason.OPT_OUT}.get(
            turn.kind
        )
        add_event(
            db,
            turn.now,
            EventKind.EXIT if turn.is_exit else EventKind.SENT,
            reason,
            contact_id=turn.contact_id,
            message_id=message_id,
            turn_id=turn_id,
            latency_ms=turn.latency_ms,
            detail=detail,
        )
        for intent, effect in turn.intents:
            add_event(
                db,
                turn.now,
                EventKind.INTENT,
                intent,
                contact_id=turn.contact_id,
                message_id=turn.last_inbound_id,
                turn_id=turn_id,
                detail={"effect": effect},
            )
        if follow_up is not None and follow_up.skipped is not None:
            add_event(
                db,
                turn.now,
                EventKind.FOLLOW_UP_CANCELLED,
                follow_up.skipped,
                contact_id=turn.contact_id,
                turn_id=turn_id,
                detail={"follows": message_id, "scheduled": False},
            )
        if turn.is_exit:
            add_event(
                db,
                turn.now,
                EventKind.STOPPED,
                turn.stop_reason,
                contact_id=turn.contact_id,
                turn_id=turn_id,
            )
        return Committed(turn_id, message_id, delivery_id, text, variant)

    def settle(self, contact_id: int, now: datetime) -> None:
        """Nothing is left to answer: the turn owed to the contact is settled."""
        self.db.execute(self.sql.settle_turn, {"b_id": contact_id, "b_now": now})

    def _outbound(
        self, turn: TurnCommit, turn_id: int, text: str, variant: int | None
    ) -> tuple[int, int]:
        """The message and its delivery row, written together."""
        db, sql = self.db, self.sql
        message_id: int = execute(
            db,
            sql.insert_message,
            {
                "contact_id": turn.contact_id,
                "direction": "out",
                "kind": turn.kind.value,
                "text": text,
                "media_url": None,
                "language": turn.language,
                "stage": turn.stage,
                "turn_id": turn_id,
                "exit_variant": variant,
                "created_at": turn.now,
                "text_key": text_key(text),
                **{column: turn.usage.get(column) for column in USAGE_COLUMNS},
            },
        ).scalar_one()
        if turn.link_token is not None:
            db.execute(
                link_tokens.insert().values(
                    token=turn.link_token,
                    contact_id=turn.contact_id,
                    message_id=message_id,
                    stage=turn.stage,
                    created_at=turn.now,
                )
            )
        plan = turn.delivery
        delivery_id: int = execute(
            db,
            sql.insert_delivery,
            {
                "contact_id": turn.contact_id,
                "message_id": message_id,
                "turn_id": turn_id,
                "channel": plan.channel,
                "recipient": plan.recipient,
                "kind": turn.kind.delivery_kind.value,
                "text": text,
                "state": (DeliveryState.SENT if plan.in_response else DeliveryState.PENDING).value,
                "via": DeliveryVia.RESPONSE.value if plan.in_response else None,
                "not_before": plan.not_before,
                "attempts": 1 if plan.in_response else 0,
                "created_at": turn.now,
                "updated_at": turn.now,
                "sent_at": turn.now if plan.in_response else None,
            },
        ).scalar_one()
        return message_id, delivery_id

    def skip(
        self,
        now: datetime,
        reason: Reason,
        after: AfterSkip,
        *,
        contact_id: int,
        message_id: int | None,
        kind: EventKind = EventKind.SKIPPED,
        latency_ms: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Record a decision to send nothing, and settle the turn owed to the contact.

        Returns True when a retry was asked for but the attempts are used up: the turn is
        then given up (recorded in the event) instead of owed again.
        """
        db, sql = self.db, self.sql
        gave_up = False
        detail = dict(detail or {})
        if after.kind is AfterKind.CLEAR and message_id is not None:
            db.execute(sql.clear_turn, {"b_id": contact_id, "b_message_id": message_id})
        elif after.kind is AfterKind.RETRY:
            attempts = db.scalar(sql.retry_turn, {"b_id": contact_id, "b_due": after.retry_at})
            if attempts is not None and attempts >= after.max_attempts:
                gave_up = True
                db.execute(sql.clear_turn, {"b_id": contact_id, "b_message_id": message_id or 0})
                detail["gave_up_after"] = attempts
            elif after.retry_at is not None:
                detail["retry_at"] = after.retry_at.isoformat(timespec="seconds")
        add_event(
            db,
            now,
            kind,
            reason,
            contact_id=contact_id,
            message_id=message_id,
            latency_ms=latency_ms,
            detail=detail,
        )
        return gave_up

    def _why_fenced(self, turn: TurnCommit) -> Reason:
        row = self.db.execute(
            select(
                contacts.c.lease_owner, contacts.c.lease_expires_at, contacts.c.handoff_until
            ).where(contacts.c.id == turn.contact_id)
        ).one()
        if row.lease_owner != turn.owner or row.lease_expires_at <= turn.now:
            return Reason.LEASE_LOST
        if row.handoff_until is not None and row.handoff_until > turn.now:
            return Reason.HANDOFF
        return Reason.STOPPED

    def _rotate_exit(self, turn: TurnCommit) -> int:
        """Apply the domain's exit choice, compare-and-set, so concurrent exits for
        different contacts never send the same variant twice in a row."""
        db = self.db
        while True:
            last = db.scalar(
                select(exit_rotation.c.last_variant).where(
                    exit_rotation.c.language == turn.language
                )
            )
            choice = turn.exit_choices.get(last, turn.exit_choices[None])
            if last is None:
                inserted = db.execute(
                    self.sql.insert(exit_rotation)
                    .values(language=turn.language, last_variant=choice, changed_at=turn.now)
                    .on_conflict_do_nothing()
                    .returning(exit_rotation.c.language)
                ).first()
                if inserted is not None:
                    return choice
                continue
            swapped = db.execute(
                update(exit_rotation)
                .where(
                    exit_rotation.c.language == turn.language,
                    exit_rotation.c.last_variant == last,
                )
                .values(last_variant=choice, changed_at=turn.now)
            )
            if swapped.rowcount == 1:
                return choice
