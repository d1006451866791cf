"""Forgetting a contact, in one transaction.

Rows that counts are made of stay (messages, deliveries, turns, events, link tokens and
clicks, follow-ups, audit findings), with every text in them blanked; the contact's
facts and dedup keys are deleted; the contact row stays as an anonymous stopped shell
whose channel id is `forgotten:<random>`. So `dmpilot stats` and the audit keep counting
it, and nothing in the database says who it was. A tombstone (domain.privacy.tombstone)
stops anyone who writes later with its channel id.

Refused, with nothing written, while a delivery to the contact is being sent or a turn
holds its lease: the send or the turn would write after the scrub (an error text, a
draft) what the scrub just removed.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, Text, case, cast, func, literal, select, update

from dmpilot.domain.contacts import RESETTABLE_STOPS, ActionOutcome, ContactRef
from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.delivery import CancelReason, DeliveryState
from dmpilot.domain.follow_ups import FollowUpCancel
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.handoff import HUMAN_TRIGGER_PREFIX
from dmpilot.domain.policy import REACTIVATABLE_STOPS
from dmpilot.domain.privacy import (
    FORGOTTEN_PREFIX,
    REFUSALS,
    ForgetResult,
    PrivacyRefusal,
    Redaction,
)
from dmpilot.store.contacts import find_contact
from dmpilot.store.events import add_event
from dmpilot.store.follow_ups import cancel_follow_up
from dmpilot.store.handoff import CLEARED_HANDOFF
from dmpilot.store.outbox import cancel_pending
from dmpilot.store.privacy.mentions import mentioning
from dmpilot.store.privacy.scrub import redact_details, redact_messages, rekey_messages
from dmpilot.store.privacy.tombstones import bury
from dmpilot.store.schema import (
    alerts,
    contact_facts,
    contacts,
    deliveries,
    events,
    inbound_keys,
    link_clicks,
    link_tokens,
    messages,
    turns,
)
from dmpilot.store.statements import Statements

# Every table holding a contact's rows, by how forgetting treats it (a test checks that
# each table with a contact_id column is here, so a new one is never silently missed).
FORGET_COVERS = frozenset(
    {
        "contacts",  # the shell: identifiers gone, stopped
        "messages",  # texts blanked, rows kept (stats, audit)
        "deliveries",  # texts, recipient, errors and platform ids blanked
        "events",  # details redacted (domain.privacy.redact_detail)
        "turns",  # a person's idempotency key in the trigger replaced
        "inbound_keys",  # deleted: text hashes
        "contact_facts",  # deleted: what the contact told about itself
        "link_tokens",  # kept: random tokens, counted by stats
        "link_clicks",  # user agents removed
        "follow_ups",  # a pending one cancelled; no text
        "audit_findings",  # kept: counts
        "alerts",  # the summary line (it may name the contact) replaced
    }
)
# A stop that nothing may undo is kept (stats count minors and opt-outs); any other stop,
# and an active contact, become `forgotten`, which nothing undoes either.
_UNDOABLE_STOPS = sorted(REACTIVATABLE_STOPS | RESETTABLE_STOPS)
# Delivery errors that are our own vocabulary, not a channel's words.
_OWN_ERRORS = sorted({reason.value for reason in CancelReason} | {Reason.COALESCED.value})
FORGOTTEN_ALERT = "about a contact whose data was erased"
REDACTED = "redacted"
ERASED_TRIGGER = f"{HUMAN_TRIGGER_PREFIX}erased "


def forget(
    db: Connection,
    sql: Statements,
    ref: ContactRef,
    now: datetime,
    by: str,
    redaction: Redaction,
) -> ForgetResult:
    found = find_contact(db, ref)
    if found is None:
        return ForgetResult(None)
    contact_id = found.id
    # The contact row first, then its deliveries: the order every writer locks them in, so
    # a claim in progress finishes before this reads the states.
    row = db.execute(
        select(contacts.c.channel, contacts.c.external_id, contacts.c.lease_expires_at)
        .where(contacts.c.id == contact_id)
        .with_for_update()
    ).one()
    if row.external_id.startswith(FORGOTTEN_PREFIX):
        # Read again under the lock: a forget that raced this one changed the row since.
        now_found = find_contact(db, ContactRef.parse(f"id:{contact_id}")) or found
        return ForgetResult(now_found, ActionOutcome.ALREADY)
    states = db.scalars(
        select(deliveries.c.state).where(deliveries.c.contact_id == contact_id).with_for_update()
    ).all()
    refusal = None
    if DeliveryState.SENDING.value in states:
        refusal = PrivacyRefusal.SENDING
    elif row.lease_expires_at is not None and row.lease_expires_at > now:
        refusal = PrivacyRefusal.TURN
    if refusal is not None:
        return ForgetResult(found, ActionOutcome.REFUSED, REFUSALS[refusal])

    scrubbed = _erase(
        db, sql, contact_id, row.channel, row.external_id, found.username, now, redaction
    )
    add_event(db, now, EventKind.FORGOTTEN, contact_id=contact_id, detail={"by": by, **scrubbed})
    return ForgetResult(
        find_contact(db, ContactRef.parse(f"id:{contact_id}")) or found,
        ActionOutcome.DONE,
        scrubbed=scrubbed,
    )


def _erase(
    db: Connection,
    sql: Statements,
    contact_id: int,
    channel: str,
    external_id: str,
    username: str | None,
    now: datetime,
    redaction: Redaction,
) -> dict[str, int]:
    """Everything forgetting changes, in the transaction that checked it may; how many rows
    of each table it changed."""
    scrubbed = {
        "cancelled": len(cancel_pending(db, sql, contact_id, CancelReason.STOPPED.value, now)),
        "follow_ups": int(cancel_follow_up(db, contact_id, FollowUpCancel.STOPPED, now)),
    }
    shell = FORGOTTEN_PREFIX + secrets.token_hex(16)  # unguessable, never a real id
    _stop_as_shell(db, contact_id, shell, now)
    bury(db, sql, channel, external_id)
    scrubbed["messages"] = _messages(db, contact_id, now, redaction)
    d = deliveries
    own_error = case(
        (d.c.last_error.in_(_OWN_ERRORS), d.c.last_error),
        (d.c.last_error.is_(None), None),
        else_=REDACTED,
    )
    scrubbed["deliveries"] = _rows(
        db.execute(
            update(d)
            .where(d.c.contact_id == contact_id)
            .values(recipient=shell, provider_message_id=None, last_error=own_error)
        )
    )
    scrubbed["events"] = _events(db, contact_id, external_id, username)
    scrubbed["contact_facts"] = _rows(
        db.execute(contact_facts.delete().where(contact_facts.c.contact_id == contact_id))
    )
    scrubbed["inbound_keys"] = _rows(
        db.execute(inbound_keys.delete().where(inbound_keys.c.contact_id == contact_id))
    )
    # A person's message is the turn `human:<key>`, and the key is whatever the caller sent.
    # Keys hold no spaces, so the new triggers cannot collide with any row, even mid-update.
    scrubbed["turns"] = _rows(
        db.execute(
            update(turns)
            .where(
                turns.c.contact_id == contact_id,
                turns.c.trigger.startswith(HUMAN_TRIGGER_PREFIX, autoescape=True),
            )
            .values(trigger=literal(ERASED_TRIGGER) + cast(turns.c.id, Text))
        )
    )
    tokens = select(link_tokens.c.token).where(link_tokens.c.contact_id == contact_id)
    scrubbed["link_clicks"] = _rows(
        db.execute(
            update(link_clicks)
            .where(link_clicks.c.token.in_(tokens), link_clicks.c.user_agent.is_not(None))
            .values(user_agent=None)
        )
    )
    scrubbed["alerts"] = _rows(
        db.execute(
            update(alerts).where(alerts.c.contact_id == contact_id).values(summary=FORGOTTEN_ALERT)
        )
    )
    return scrubbed


def _rows(result: CursorResult[Any]) -> int:
    return result.rowcount or 0


def _stop_as_shell(db: Connection, contact_id: int, shell: str, now: datetime) -> None:
    c = contacts.c
    db.execute(
        update(contacts)
        .where(c.id == contact_id)
        .values(
            external_id=shell,
            name=None,
            username=None,
            source=None,
            stopped_at=func.coalesce(c.stopped_at, now),
            stop_reason=case(
                (c.stop_reason.is_(None), Reason.FORGOTTEN.value),
                (c.stop_reason.in_(_UNDOABLE_STOPS), Reason.FORGOTTEN.value),
                else_=c.stop_reason,
            ),
            stage=case((c.stopped_at.is_(None), STOPPED_STAGE), else_=c.stage),
            goodbye_due=False,
            turn_due_at=None,
            turn_attempts=0,
            # Expired (a live one refused the forget): no late commit may use it.
            lease_owner=None,
            lease_expires_at=None,
            **CLEARED_HANDOFF,
        )
    )


def _messages(db: Connection, contact_id: int, now: datetime, redaction: Redaction) -> int:
    rows = db.execute(
        select(messages.c.id, messages.c.direction, messages.c.text, messages.c.text_key)
        .where(messages.c.contact_id == contact_id)
        .order_by(messages.c.id)
    ).all()
    redact_messages(db, rows, now, redaction)
    # Text keys hash what was sent. New random ones keep equal replies equal (the audit's
    # duplicate and repeat checks) without pointing back at any text.
    fresh: dict[str, str] = {}
    keys = {
        row.id: fresh.setdefault(row.text_key, secrets.token_hex(8))
        for row in rows
        if row.text_key is not None
    }
    rekey_messages(db, keys)
    return len(rows)


def _events(db: Connection, contact_id: int, external_id: str, username: str | None) -> int:
    own = db.execute(
        select(events.c.id, events.c.detail).where(
            events.c.contact_id == contact_id, events.c.detail.is_not(None)
        )
    ).all()
    changed = redact_details(db, own)
    return changed + redact_details(db, mentioning(db, external_id, username))
