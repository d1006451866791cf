"""Storing what a channel reports besides messages (domain.channel_events), one transaction
each: never answered, always recorded.

An echo is the account's own message coming back. It is ours when its message id is one a
delivery recorded, or, when the echo outruns the Send API's answer, when a delivery of the
same words to the same contact is in flight. Anything else was written by a person in the
Instagram app: it is stored as their message and the contact is handed to them, so the
bot never talks over a human.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from dmpilot.domain.channel_events import (
    ChannelEvent,
    ChannelEventKind,
    ChannelEventResult,
    EchoOutcome,
)
from dmpilot.domain.contacts import HandoffReason
from dmpilot.domain.decision import EventKind
from dmpilot.domain.delivery import MESSAGING_WINDOW, DeliveryKind, DeliveryState
from dmpilot.domain.handoff import human_trigger
from dmpilot.domain.inbound import comparable_text, message_key
from dmpilot.domain.repetition import text_key
from dmpilot.store.events import add_event
from dmpilot.store.handoff import HUMAN_OUTCOME, in_handoff, take_over
from dmpilot.store.privacy.tombstones import stop_if_forgotten
from dmpilot.store.schema import contacts, deliveries, inbound_keys, messages, turns
from dmpilot.store.statements import Statements

APP_AUTHOR = "instagram_app"  # messages.author of what a person sent from the Instagram app
# How long after its send an echo can still be recognised by its words (the Send API
# answered late, or not at all).
ECHO_MATCH_WINDOW = timedelta(minutes=10)
_IN_FLIGHT = [
    DeliveryState.SENDING.value,
    DeliveryState.SENT.value,
    DeliveryState.UNKNOWN.value,
]
_EVENT_KINDS = {
    ChannelEventKind.REACTION: EventKind.REACTION,
    ChannelEventKind.SEEN: EventKind.SEEN,
    ChannelEventKind.DELETED: EventKind.DELETED,
    ChannelEventKind.UNSUPPORTED: EventKind.UNSUPPORTED,
    ChannelEventKind.REFERRAL: EventKind.REFERRAL,
    ChannelEventKind.REFUSED: EventKind.REFUSED,
}


class ChannelEvents:
    __slots__ = ("db", "sql")

    def __init__(self, db: Connection, sql: Statements) -> None:
        self.db = db
        self.sql = sql

    def record(
        self, event: ChannelEvent, now: datetime, handoff_until: datetime
    ) -> ChannelEventResult:
        if event.kind is ChannelEventKind.ECHO:
            return self._echo(event, now, handoff_until)
        contact_id = self._contact(event, now)
        detail: dict[str, object] = dict(event.detail)
        message_id = None
        if event.message_id:
            detail["mid"] = event.message_id
            message_id = self._message_of(contact_id, event.message_id)
        if contact_id is None and event.contact_external_id:
            detail["external_id"] = event.contact_external_id
        if event.kind is ChannelEventKind.DELETED and message_id is not None:
            self.db.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
        add_event(
            self.db,
            now,
            _EVENT_KINDS[event.kind],
            event.reason,
            contact_id=contact_id,
            message_id=message_id,
            detail=detail,
        )
        return ChannelEventResult(contact_id)

    # -- echoes ------------------------------------------------------------------------

    def _echo(self, event: ChannelEvent, now: datetime, until: datetime) -> ChannelEventResult:
        db, mid = self.db, event.message_id
        external_id = event.contact_external_id
        if not mid or not external_id:
            return ChannelEventResult(None, EchoOutcome.REPEAT)
        d = deliveries
        ours = db.execute(
            select(d.c.id, d.c.contact_id).where(
                d.c.channel == event.channel, d.c.provider_message_id == mid
            )
        ).first()
        if ours is not None:
            return ChannelEventResult(ours.contact_id, EchoOutcome.OURS)
        contact_id, stopped_at, created_at = db.execute(
            self.sql.ensure_contact, _contact_params(event, now)
        ).one()
        if created_at == now and stop_if_forgotten(db, contact_id, event.channel, external_id, now):
            stopped_at = stopped_at or now
        if self._claim_in_flight(contact_id, mid, event.text, now):
            return ChannelEventResult(contact_id, EchoOutcome.OURS)
        return self._human_echo(event, contact_id, stopped_at is not None, now, until)

    def _claim_in_flight(self, contact_id: int, mid: str, text: str, now: datetime) -> bool:
        """The echo of a send whose answer has not been recorded (or never came): the
        delivery learns its message id, and an `unknown` one is now known to be sent."""
        d = deliveries
        rows = self.db.execute(
            select(d.c.id, d.c.text, d.c.state, d.c.message_id, d.c.turn_id)
            .where(
                d.c.contact_id == contact_id,
                d.c.provider_message_id.is_(None),
                d.c.state.in_(_IN_FLIGHT),
                d.c.updated_at >= now - ECHO_MATCH_WINDOW,
            )
            .order_by(d.c.id)
        ).all()
        words = comparable_text(text)
        match = next((row for row in rows if comparable_text(row.text) == words), None)
        if match is None:
            return False
        values: dict[str, object] = {"provider_message_id": mid, "updated_at": now}
        if match.state == DeliveryState.UNKNOWN.value:
            values |= {"state": DeliveryState.SENT.value, "sent_at": now}
            add_event(
                self.db,
                now,
                EventKind.DELIVERED,
                DeliveryState.SENT.value,
                contact_id=contact_id,
                message_id=match.message_id,
                turn_id=match.turn_id,
                detail={"delivery": match.id, "confirmed_by": "echo"},
            )
        self.db.execute(update(d).where(d.c.id == match.id).values(**values))
        return True

    def _human_echo(
        self, event: ChannelEvent, contact_id: int, stopped: bool, now: datetime, until: datetime
    ) -> ChannelEventResult:
        db, sql = self.db, self.sql
        mid = event.message_id or ""
        stage = db.scalar(select(contacts.c.stage).where(contacts.c.id == contact_id))
        # One turn per echoed message id, ever: Meta's retries store it once.
        trigger = human_trigger("ig:" + hashlib.sha256(mid.encode()).hexdigest()[:40])
        turn_id = db.scalar(
            sql.insert(turns)
            .values(
                contact_id=contact_id,
                trigger=trigger,
                last_inbound_id=db.scalar(sql.newest_inbound, {"contact_id": contact_id}) or 0,
                stage=stage or "",
                outcome=HUMAN_OUTCOME,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[turns.c.contact_id, turns.c.trigger])
            .returning(turns.c.id)
        )
        if turn_id is None:
            return ChannelEventResult(contact_id, EchoOutcome.REPEAT)
        message_id = db.execute(
            sql.insert_message,
            {
                "contact_id": contact_id,
                "direction": "out",
                "kind": DeliveryKind.HUMAN.value,
                "text": event.text,
                "media_url": None,
                "language": None,
                "stage": stage,
                "turn_id": turn_id,
                "exit_variant": None,
                "created_at": now,
                "text_key": text_key(event.text),
                "author": APP_AUTHOR,
            },
        ).scalar_one()
        add_event(
            db,
            now,
            EventKind.HUMAN_REPLY,
            contact_id=contact_id,
            message_id=message_id,
            turn_id=turn_id,
            detail={"by": APP_AUTHOR, "mid": mid},
        )
        handed_off = False
        if not stopped:
            handed_off = take_over(
                db, sql, contact_id, now, until, APP_AUTHOR, HandoffReason.HUMAN_REPLIED, message_id
            )
            if not handed_off:
                # A person already has the contact: they are still at it, so it stays theirs.
                db.execute(
                    update(contacts)
                    .where(
                        contacts.c.id == contact_id,
                        in_handoff(now),
                        contacts.c.handoff_until < until,
                    )
                    .values(handoff_until=until)
                )
        return ChannelEventResult(contact_id, EchoOutcome.HUMAN, handed_off)

    # -- lookups -----------------------------------------------------------------------

    def _contact(self, event: ChannelEvent, now: datetime) -> int | None:
        if event.contact_external_id is None:
            return None
        if event.kind is ChannelEventKind.REFERRAL:
            # The contact opened the conversation from an ad or a link: remember where from.
            contact_id: int
            contact_id, _, created_at = self.db.execute(
                self.sql.ensure_contact, _contact_params(event, now)
            ).one()
            if created_at == now:
                stop_if_forgotten(
                    self.db, contact_id, event.channel, event.contact_external_id, now
                )
            return contact_id
        found: int | None = self.db.scalar(
            select(contacts.c.id).where(
                contacts.c.channel == event.channel,
                contacts.c.external_id == event.contact_external_id,
            )
        )
        return found

    def _message_of(self, contact_id: int | None, mid: str) -> int | None:
        """Our stored message with this platform id: the contact's (by its dedup key) or
        ours (by the delivery that recorded it)."""
        if contact_id is None:
            return None
        inbound: int | None = self.db.scalar(
            select(inbound_keys.c.message_id).where(
                inbound_keys.c.contact_id == contact_id, inbound_keys.c.key == message_key(mid)
            )
        )
        if inbound is not None:
            return inbound
        outbound: int | None = self.db.scalar(
            select(deliveries.c.message_id).where(
                deliveries.c.contact_id == contact_id, deliveries.c.provider_message_id == mid
            )
        )
        return outbound


def _contact_params(event: ChannelEvent, now: datetime) -> dict[str, object]:
    source = event.detail.get("source") if event.kind is ChannelEventKind.REFERRAL else None
    return {
        "channel": event.channel,
        "external_id": event.contact_external_id,
        "source": source,
        "now": now,
        # A moment past the window's end, as every fence reads it (last message < now - 24 h).
        "window_closed_at": now - MESSAGING_WINDOW - timedelta(seconds=1),
    }
