"""The hot-path statements, built once per dialect with bind parameters.

Building a SQLAlchemy construct and its cache key costs more than SQLite takes to run it;
prebuilt statements reuse both. Values are always bound, never inlined. UPDATE statements
reserve bind names equal to column names, hence the `b_` prefixes there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.delivery import DeliveryKind, DeliveryState
from dmpilot.domain.follow_ups import FollowUpState
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.store.schema import (
    contact_facts,
    contacts,
    control,
    daily_budget,
    deliveries,
    events,
    follow_ups,
    inbound_keys,
    messages,
    turns,
)

USAGE_COLUMNS = (
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "brain_ms",
    "attempts",
)
CANCELLED_OUTCOME = "cancelled"
PENDING = DeliveryState.PENDING.value
SENDING = DeliveryState.SENDING.value


def _p(name: str, **kw: Any) -> BindParameter[Any]:
    return bindparam(name, **kw)


def _decided(contact_id: ColumnElement[Any], message_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """A message is decided once a turn that still stands covers it, or once any event
    but a "duplicate" skip names it."""
    covered = exists().where(
        turns.c.contact_id == contact_id,
        turns.c.last_inbound_id >= message_id,
        turns.c.outcome != CANCELLED_OUTCOME,
    )
    evented = exists().where(
        events.c.message_id == message_id,
        not_(
            and_(
                events.c.kind == EventKind.SKIPPED.value,
                events.c.reason == Reason.DUPLICATE.value,
            )
        ),
    )
    return or_(covered, evented)


MAX_PENDING = 50  # unanswered messages one turn reads


class Statements:
    def __init__(self, dialect_name: str) -> None:
        self.dialect_name = dialect_name
        insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
        self.insert = insert

        self.paused = select(control.c.paused).where(control.c.id == 1)
        # SQLite runs one write transaction at a time: what one statement reads cannot change
        # before the next. PostgreSQL commits others between statements (READ COMMITTED).
        self.single_writer = dialect_name == "sqlite"

        # -- inbound -----------------------------------------------------------------------
        new_contact = insert(contacts).values(
            channel=_p("channel"),
            external_id=_p("external_id"),
            name=_p("name"),
            username=_p("username"),
            language=_p("language"),
            created_at=_p("now"),
            last_inbound_at=_p("now"),
            cycle_started_at=_p("now"),
            source=_p("source"),
        )
        # The first source a contact came from is the one kept.
        first_source = func.coalesce(contacts.c.source, new_contact.excluded.source)
        self.upsert_contact = new_contact.on_conflict_do_update(
            index_elements=[contacts.c.channel, contacts.c.external_id],
            set_={
                "source": first_source,
                "last_inbound_at": new_contact.excluded.last_inbound_at,
                "name": func.coalesce(new_contact.excluded.name, contacts.c.name),
                "username": func.coalesce(new_contact.excluded.username, contacts.c.username),
                "language": func.coalesce(new_contact.excluded.language, contacts.c.language),
            },
        ).returning(
            contacts.c.id,
            contacts.c.stopped_at,
            contacts.c.stage,
            contacts.c.lease_expires_at,
            contacts.c.goodbye_due,
            contacts.c.handoff_until,
            contacts.c.handoff_at,
            contacts.c.created_at,  # equal to `now`: created by this statement
            # Read in the same round trip: the kill switch, and whether a follow-up waits
            # (a message cancels it; only a single writer may trust this and skip the cancel).
            self.paused.scalar_subquery().label("paused"),
            exists()
            .where(
                follow_ups.c.contact_id == contacts.c.id,
                follow_ups.c.state == FollowUpState.PENDING.value,
            )
            .label("follow_up_pending"),
        )

        # A contact named by a channel event (an echo, a referral): created if new, but its
        # last message time (the 24-hour window) is only ever moved by its own messages, so
        # a new one starts with the window closed: it has not written yet.
        silent_contact = insert(contacts).values(
            channel=_p("channel"),
            external_id=_p("external_id"),
            created_at=_p("now"),
            last_inbound_at=_p("window_closed_at"),
            cycle_started_at=_p("now"),
            source=_p("source"),
        )
        self.ensure_contact = silent_contact.on_conflict_do_update(
            index_elements=[contacts.c.channel, contacts.c.external_id],
            set_={"source": func.coalesce(contacts.c.source, silent_contact.excluded.source)},
        ).returning(contacts.c.id, contacts.c.stopped_at, contacts.c.created_at)

        # Serialises work that must run in one process at a time (a no-op on SQLite, where
        # a write transaction already holds the database's one write lock).
        self.lock_control = select(control.c.id).where(control.c.id == 1).with_for_update()

        # Dedup: the claim succeeds for a new key, or for a key last seen before the window.
        new_key = insert(inbound_keys).values(
            contact_id=_p("contact_id"), key=_p("key"), first_seen_at=_p("now"), message_id=None
        )
        self.claim_key = new_key.on_conflict_do_update(
            index_elements=[inbound_keys.c.contact_id, inbound_keys.c.key],
            set_={"first_seen_at": new_key.excluded.first_seen_at, "message_id": None},
            where=inbound_keys.c.first_seen_at <= _p("cutoff"),
        ).returning(inbound_keys.c.key)
        self.key_message = (
            select(inbound_keys.c.message_id, messages.c.created_at)
            .outerjoin(messages, messages.c.id == inbound_keys.c.message_id)
            .where(inbound_keys.c.contact_id == _p("contact_id"), inbound_keys.c.key == _p("key"))
        )
        self.link_key = (
            update(inbound_keys)
            .where(
                inbound_keys.c.contact_id == _p("b_contact_id"), inbound_keys.c.key == _p("b_key")
            )
            .values(message_id=_p("b_message_id"))
        )
        self.decided = select(_decided(_p("contact_id"), _p("message_id")))
        # Inbound messages no turn will ever decide: the process handling them died (an
        # inline request killed mid-turn). No turn is owed or running for their contact.
        self.interrupted = (
            select(messages.c.contact_id, messages.c.id)
            .join(contacts, contacts.c.id == messages.c.contact_id)
            .where(
                messages.c.direction == "in",
                messages.c.created_at >= _p("since"),
                messages.c.created_at <= _p("before"),
                contacts.c.turn_due_at.is_(None),
                or_(
                    contacts.c.lease_expires_at.is_(None), contacts.c.lease_expires_at <= _p("now")
                ),
                not_(_decided(messages.c.contact_id, messages.c.id)),
            )
            .order_by(messages.c.id)
            .limit(_p("limit"))
        )

        self.insert_message = messages.insert().returning(messages.c.id)
        self.insert_turn = turns.insert().returning(turns.c.id)
        self.insert_event = events.insert()
        self.insert_delivery = deliveries.insert().returning(deliveries.c.id)

        self.newest_inbound = select(func.max(messages.c.id)).where(
            messages.c.contact_id == _p("contact_id"), messages.c.direction == "in"
        )
        # The turn fence's two checks in one round trip: the kill switch and the newest
        # inbound message (a newer one means a newer turn answers everything).
        self.paused_and_newest = select(
            self.paused.scalar_subquery(), self.newest_inbound.scalar_subquery()
        )

        # Safety stops at ingest. A minor overrides any other stop and is never owed a
        # goodbye; an opt-out overrides a completed funnel (so it never reactivates) but
        # never a minor.
        stop = {
            "stopped_at": func.coalesce(contacts.c.stopped_at, _p("b_now")),
            "stage": STOPPED_STAGE,
            # A stop ends any handoff: nothing, not even a person's message, follows it.
            "handoff_at": None,
            "handoff_until": None,
            "handoff_by": None,
            "handoff_reason": None,
        }
        self.stop_minor = (
            update(contacts)
            .where(
                contacts.c.id == _p("b_id"),
                (contacts.c.stop_reason.is_(None)) | (contacts.c.stop_reason != Reason.MINOR.value),
            )
            .values(**stop, stop_reason=Reason.MINOR.value, goodbye_due=False)
        )
        self.stop_opt_out = (
            update(contacts)
            .where(
                contacts.c.id == _p("b_id"),
                (contacts.c.stop_reason.is_(None))
                | (contacts.c.stop_reason.not_in([Reason.MINOR.value, Reason.OPT_OUT.value])),
            )
            .values(**stop, stop_reason=Reason.OPT_OUT.value, goodbye_due=_p("b_owed"))
        )

        # -- turns owed by the worker ------------------------------------------------------
        self.schedule_turn = (
            update(contacts)
            .where(contacts.c.id == _p("b_id"))
            .values(turn_due_at=_p("b_due"), turn_attempts=0)
        )
        newer_inbound = exists().where(
            messages.c.contact_id == contacts.c.id,
            messages.c.direction == "in",
            messages.c.id > _p("b_message_id"),
        )
        # Only when nothing newer arrived: a newer message keeps its own turn owed.
        self.clear_turn = (
            update(contacts)
            .where(contacts.c.id == _p("b_id"), not_(newer_inbound))
            .values(turn_due_at=None, turn_attempts=0)
        )
        self.settle_turn = (
            update(contacts)
            .where(contacts.c.id == _p("b_id"), contacts.c.turn_due_at <= _p("b_now"))
            .values(turn_due_at=None, turn_attempts=0)
        )
        self.retry_turn = (
            update(contacts)
            .where(contacts.c.id == _p("b_id"))
            .values(
                turn_attempts=contacts.c.turn_attempts + 1,
                turn_due_at=_p("b_due"),
            )
            .returning(contacts.c.turn_attempts)
        )

        # -- the turn lease ------------------------------------------------------------------
        lease_free = (contacts.c.lease_expires_at.is_(None)) | (
            contacts.c.lease_expires_at <= _p("now")
        )
        self.claim_lease = (
            update(contacts)
            .where(contacts.c.id == _p("contact_id"), lease_free)
            .values(lease_owner=_p("owner"), lease_expires_at=_p("expires"))
        )
        due = (
            select(contacts.c.id)
            .where(contacts.c.turn_due_at <= _p("now"), lease_free)
            .order_by(contacts.c.turn_due_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        self.claim_due_lease = (
            update(contacts)
            .where(contacts.c.id == due)
            .values(lease_owner=_p("owner"), lease_expires_at=_p("expires"))
            .returning(contacts.c.id)
        )
        self.release_lease = (
            update(contacts)
            .where(contacts.c.id == _p("contact_id"), contacts.c.lease_owner == _p("owner"))
            .values(lease_owner=None, lease_expires_at=None)
        )

        # -- daily budget, broadcast check -------------------------------------------------
        new_day = insert(daily_budget).values(day=_p("day"), engaged=1)
        self.claim_budget = new_day.on_conflict_do_update(
            index_elements=[daily_budget.c.day],
            set_={"engaged": daily_budget.c.engaged + 1},
            where=daily_budget.c.engaged < _p("limit"),
        ).returning(daily_budget.c.engaged)
        self.budget_used = select(daily_budget.c.engaged).where(daily_budget.c.day == _p("day"))
        self.recent_outbound = (
            select(messages.c.contact_id, messages.c.text)
            .where(
                messages.c.direction == "out",
                messages.c.cancelled.is_(false()),
                messages.c.created_at >= _p("since"),
                messages.c.contact_id != _p("contact_id"),
                messages.c.redacted_at.is_(None),
            )
            .order_by(messages.c.id.desc())
            .limit(_p("limit", type_=Integer))
        )

        # -- one contact's state -----------------------------------------------------------
        self.contact = select(contacts).where(contacts.c.id == _p("contact_id"))
        answered = (
            select(func.coalesce(func.max(turns.c.last_inbound_id), 0))
            .where(turns.c.contact_id == _p("contact_id"), turns.c.outcome != CANCELLED_OUTCOME)
            .scalar_subquery()
        )
        view = select(
            messages.c.id,
            messages.c.direction,
            messages.c.kind,
            messages.c.text,
            messages.c.created_at,
            messages.c.language,
        ).where(
            messages.c.contact_id == _p("contact_id"),
            messages.c.cancelled.is_(false()),
            # The contact unsent it: no model sees it again.
            messages.c.deleted_at.is_(None),
            # Its text is gone (retention, a forgotten contact): nothing left to show.
            messages.c.redacted_at.is_(None),
        )
        # The newest 50 unanswered messages, newest first: the turn answers the newest one,
        # so a contact who wrote more than 50 times in a row is still answered (once).
        self.pending = (
            view.where(messages.c.direction == "in", messages.c.id > answered)
            .order_by(messages.c.id.desc())
            .limit(MAX_PENDING)
        )
        self.history = view.order_by(messages.c.id.desc()).limit(_p("limit", type_=Integer))
        self.cycle_outbound = (
            select(messages.c.kind, messages.c.text, messages.c.stage)
            .where(
                messages.c.contact_id == _p("contact_id"),
                messages.c.direction == "out",
                messages.c.cancelled.is_(false()),
                messages.c.created_at >= _p("cycle_started_at"),
            )
            .order_by(messages.c.id)
        )
        self.recent_replies = (
            select(messages.c.text)
            .where(
                messages.c.contact_id == _p("contact_id"),
                messages.c.direction == "out",
                messages.c.cancelled.is_(false()),
                messages.c.redacted_at.is_(None),  # a blanked text repeats nothing
            )
            .order_by(messages.c.id.desc())
            .limit(_p("limit", type_=Integer))
        )

        self.facts = select(contact_facts.c.kind, contact_facts.c.value).where(
            contact_facts.c.contact_id == _p("contact_id")
        )

        # -- the outbox ----------------------------------------------------------------------
        d = deliveries
        returned = (d.c.id, d.c.message_id, d.c.turn_id, d.c.not_before, d.c.kind)
        self.cancel_pending_of_contact = (
            update(d)
            .where(d.c.contact_id == _p("b_contact_id"), d.c.state == PENDING)
            .values(
                state=DeliveryState.CANCELLED.value, last_error=_p("b_why"), updated_at=_p("b_now")
            )
            .returning(*returned)
        )
        # A newer turn answers what these replies answered: they are superseded.
        older_turns = select(turns.c.id).where(
            turns.c.contact_id == _p("b_contact_id"), turns.c.last_inbound_id < _p("b_newest")
        )
        self.cancel_superseded = (
            update(d)
            .where(
                d.c.contact_id == _p("b_contact_id"),
                d.c.state == PENDING,
                d.c.kind.in_([DeliveryKind.REPLY.value, DeliveryKind.DISCLOSURE.value]),
                d.c.turn_id.in_(older_turns),
            )
            .values(
                state=DeliveryState.CANCELLED.value,
                last_error=Reason.COALESCED.value,
                updated_at=_p("b_now"),
            )
            .returning(*returned)
        )
        self.withdraw_message = (
            update(messages).where(messages.c.id == _p("b_message_id")).values(cancelled=True)
        )
        # The trigger is freed (made unique by the row id) so a later turn may answer the
        # same messages again; the row stays for the record.
        self.withdraw_turn = (
            update(turns)
            .where(turns.c.id == _p("b_turn_id"))
            .values(
                outcome=CANCELLED_OUTCOME,
                trigger=func.substr(turns.c.trigger, 1, 40) + ":x" + cast(turns.c.id, String(20)),
            )
        )
        self.take_for_response = (
            update(d)
            .where(d.c.id == _p("b_id"), d.c.state == PENDING)
            .values(
                state=DeliveryState.SENT.value,
                via="response",
                attempts=d.c.attempts + 1,
                sent_at=_p("b_now"),
                updated_at=_p("b_now"),
            )
        )
        self.delivery_contact = (
            select(
                contacts.c.stopped_at,
                contacts.c.last_inbound_at,
                d.c.kind,
                d.c.text,
                d.c.state,
            )
            .join(contacts, contacts.c.id == d.c.contact_id)
            .where(d.c.id == _p("id"))
        )
