"""Storing inbound messages: exactly once, before any decision, with atomic dedup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from dmpilot.domain.contacts import HandbackReason, HandoffReason
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.delivery import CancelReason, DeliveryKind
from dmpilot.domain.follow_ups import FollowUpCancel
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.inbound import Inbound
from dmpilot.domain.memory import Fact, FactKind, merge
from dmpilot.domain.turns import HandoffRequest, Recorded
from dmpilot.store.driver import execute
from dmpilot.store.events import add_event
from dmpilot.store.follow_ups import cancel_follow_up
from dmpilot.store.handoff import end_handoff, take_over
from dmpilot.store.outbox import cancel_pending
from dmpilot.store.privacy.tombstones import stop_if_forgotten
from dmpilot.store.schema import contact_facts, contacts
from dmpilot.store.statements import Statements

_KINDS = {kind.value for kind in FactKind}
NEVER = datetime(1, 1, 1)  # a cutoff no key's first sighting is ever before


class Inbox:
    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    def record(
        self,
        inbound: Inbound,
        now: datetime,
        *,
        dedup_window: timedelta,
        language: str | None,
        safety_stop: Reason | None = None,
        schedule_at: datetime | None = None,
        settle: timedelta = timedelta(seconds=3),
        owe_goodbye: bool = True,
        facts: Sequence[Fact] = (),
        handoff: HandoffRequest | None = None,
    ) -> Recorded:
        """Store one delivery exactly once; recognise a repeat of it atomically.

        `safety_stop` (a minor, an opt-out) stops the contact in the same transaction and
        cancels whatever was queued for it, so nothing follows a "stop" or an "I'm 15".
        `owe_goodbye`: the persona has a goodbye for an opt-out (else opt-outs are silent).
        `facts`: what this message says about the contact (domain.memory), remembered.
        `handoff`: the message asks for a real person; an active contact is handed to one
        in the same transaction. A handoff whose time ran out ends here, with its event.
        A pending follow-up is cancelled: the contact wrote.
        `schedule_at` owes the contact a turn run by the worker at that time (push and
        hybrid delivery): each new message pushes it back, so a burst gets one turn.
        A repeat of a message that never got a decision (its request died, the database
        failed mid-way) is handed the turn: `settle` is how old the original must be and
        no turn may hold the contact, so a repeat racing the original stays a duplicate.
        """
        db, sql = self.db, self.sql
        (
            contact_id,
            stopped_at,
            stage,
            lease_expires_at,
            goodbye_due,
            until,
            since,
            created_at,
            paused,
            follow_up_pending,
        ) = execute(
            db,
            sql.upsert_contact,
            {
                "channel": inbound.channel,
                "external_id": inbound.contact_external_id,
                "name": inbound.contact_name,
                "username": inbound.contact_username,
                "language": language,
                "source": inbound.source,
                "now": now,
            },
        ).one()
        # A new contact whose channel id was forgotten starts stopped: no reply, no funnel.
        if created_at == now and stop_if_forgotten(
            db, contact_id, inbound.channel, inbound.contact_external_id, now
        ):
            stopped_at, stage = stopped_at or now, STOPPED_STAGE
        paused = bool(paused)
        stopped = stopped_at is not None
        subscriber = inbound.contact_external_id
        if since is not None and (until is None or until <= now):
            end_handoff(db, contact_id, now, HandbackReason.EXPIRED, None)
            until = None
        handed_off = until is not None and until > now

        key = inbound.dedup_key()
        if key is not None:
            ids = {"contact_id": contact_id, "key": key}
            # A platform message id names one message forever: its key never expires.
            cutoff = NEVER if inbound.external_message_id else now - dedup_window
            claimed = execute(db, sql.claim_key, {**ids, "now": now, "cutoff": cutoff})
            if claimed.first() is None:
                original, original_at = execute(db, sql.key_message, ids).one()
                retake = (
                    original is not None
                    and (lease_expires_at is None or lease_expires_at <= now)
                    and original_at is not None
                    and original_at <= now - settle
                    and not db.scalar(
                        sql.decided, {"contact_id": contact_id, "message_id": original}
                    )
                )
                if retake and schedule_at is not None:
                    db.execute(sql.schedule_turn, {"b_id": contact_id, "b_due": schedule_at})
                return Recorded(
                    contact_id,
                    subscriber,
                    None,
                    original,
                    paused,
                    stopped,
                    stage,
                    goodbye_due=bool(goodbye_due),
                    retake=retake,
                    handoff=handed_off,
                )

        message_id = execute(
            db,
            sql.insert_message,
            {
                "contact_id": contact_id,
                "direction": "in",
                "kind": inbound.kind.value,
                "text": inbound.text,
                "media_url": inbound.media_url,
                "language": language,
                "created_at": now,
            },
        ).scalar_one()
        if key is not None:
            execute(
                db,
                sql.link_key,
                {"b_contact_id": contact_id, "b_key": key, "b_message_id": message_id},
            )
        # They answered: no nudge follows (one queued already is fenced at its claim).
        if follow_up_pending or not sql.single_writer:
            cancel_follow_up(db, contact_id, FollowUpCancel.CONTACT_WROTE, now)
        if facts:
            self._remember(contact_id, message_id, facts, now)
        applied = None
        if safety_stop is not None:
            applied, owed = self._stop(
                contact_id,
                message_id,
                safety_stop,
                was_active=not stopped,
                owe_goodbye=owe_goodbye,
                now=now,
            )
            if applied is not None:
                goodbye_due = owed
                handed_off = False  # the stop ended any handoff
        elif handoff is not None and not stopped and not handed_off:
            handed_off = take_over(
                db,
                sql,
                contact_id,
                now,
                handoff.until,
                "contact",
                HandoffReason.REQUESTED,
                message_id,
            )
        if schedule_at is not None and not inbound.is_empty and not handed_off:
            db.execute(sql.schedule_turn, {"b_id": contact_id, "b_due": schedule_at})
        return Recorded(
            contact_id,
            subscriber,
            message_id,
            None,
            paused,
            stopped,
            stage,
            applied,
            goodbye_due=bool(goodbye_due),
            handoff=handed_off,
        )

    def mark_interrupted(
        self, now: datetime, *, before: datetime, since: datetime, limit: int = 1000
    ) -> int:
        """Record an `interrupted` skip for each message stored between `since` and
        `before` that no turn decided and none will: its request died mid-turn.

        `before` lies past the dedup window, so a ManyChat retry can no longer take the
        turn. Returns how many messages were marked.
        """
        # Several processes may start at once: one of them marks, the others find nothing.
        self.db.execute(self.sql.lock_control)
        rows = self.db.execute(
            self.sql.interrupted, {"since": since, "before": before, "now": now, "limit": limit}
        ).all()
        for contact_id, message_id in rows:
            add_event(
                self.db,
                now,
                EventKind.SKIPPED,
                Reason.INTERRUPTED,
                contact_id=contact_id,
                message_id=message_id,
            )
        return len(rows)

    def _stop(
        self,
        contact_id: int,
        message_id: int,
        reason: Reason,
        *,
        was_active: bool,
        owe_goodbye: bool,
        now: datetime,
    ) -> tuple[Reason | None, bool]:
        """Apply a safety stop; (the stop applied or None, whether a goodbye is owed)."""
        db, sql = self.db, self.sql
        if reason is Reason.MINOR:
            statement, params = sql.stop_minor, {"b_id": contact_id, "b_now": now}
        else:
            statement = sql.stop_opt_out
            params = {"b_id": contact_id, "b_now": now, "b_owed": was_active and owe_goodbye}
        if db.execute(statement, params).rowcount != 1:
            return None, False
        cancelled = cancel_pending(db, sql, contact_id, CancelReason.STOPPED.value, now)
        owed = reason is Reason.OPT_OUT and was_active and owe_goodbye
        if (
            reason is Reason.OPT_OUT
            and owe_goodbye
            and any(row.kind == DeliveryKind.EXIT.value for row in cancelled)
        ):
            # The funnel's goodbye never went out: the opt-out goodbye takes its place.
            owed = True
            db.execute(
                contacts.update().where(contacts.c.id == contact_id).values(goodbye_due=True)
            )
        add_event(db, now, EventKind.STOPPED, reason, contact_id=contact_id, message_id=message_id)
        return reason, owed

    def _remember(
        self, contact_id: int, message_id: int, facts: Sequence[Fact], now: datetime
    ) -> None:
        db, sql = self.db, self.sql
        known = {
            FactKind(kind): value
            for kind, value in db.execute(sql.facts, {"contact_id": contact_id})
            if kind in _KINDS
        }
        for kind, value in merge(known, facts).items():
            if known.get(kind) == value:
                continue
            row = sql.insert(contact_facts).values(
                contact_id=contact_id,
                kind=kind.value,
                value=value[:200],
                message_id=message_id,
                updated_at=now,
            )
            db.execute(
                row.on_conflict_do_update(
                    index_elements=[contact_facts.c.contact_id, contact_facts.c.kind],
                    set_={
                        "value": row.excluded.value,
                        "message_id": row.excluded.message_id,
                        "updated_at": row.excluded.updated_at,
                    },
                )
            )

    def newest_inbound_id(self, contact_id: int) -> int | None:
        newest: int | None = self.db.scalar(self.sql.newest_inbound, {"contact_id": contact_id})
        return newest
