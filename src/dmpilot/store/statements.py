"""The hot-path statements, built once per dialect with bind parameters.

Building a SQLAlchemy construct and its cache key costs more than SQLite takes to run it;
prebuilt statements reuse both. Values are always bound, never inlined.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dmpilot.domain.decision import Reason
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.store.schema import (
    contacts,
    control,
    daily_budget,
    events,
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


def _p(name: str, **kw: Any):  # type: ignore[no-untyped-def]
    return bindparam(name, **kw)


class Statements:
    def __init__(self, dialect_name: str) -> None:
        insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert

        new_contact = insert(contacts).values(
            channel=_p("channel"),
            external_id=_p("external_id"),
            name=_p("name"),
            username=_p("username"),
            language=_p("language"),
            created_at=_p("now"),
            last_inbound_at=_p("now"),
            cycle_started_at=_p("now"),
        )
        self.upsert_contact = new_contact.on_conflict_do_update(
            index_elements=[contacts.c.channel, contacts.c.external_id],
            set_={
                "last_inbound_at": new_contact.excluded.last_inbound_at,
                "name": func.coalesce(new_contact.excluded.name, contacts.c.name),
                "username": func.coalesce(new_contact.excluded.username, contacts.c.username),
                "language": func.coalesce(new_contact.excluded.language, contacts.c.language),
            },
        ).returning(contacts.c.id, contacts.c.stopped_at, contacts.c.stage)

        self.paused = select(control.c.paused).where(control.c.id == 1)

        # Dedup: the claim succeeds for a new key, or for a key last seen before the window.
        new_key = insert(inbound_keys).values(
            contact_id=_p("contact_id"), key=_p("key"), first_seen_at=_p("now"), message_id=None
        )
        self.claim_key = new_key.on_conflict_do_update(
            index_elements=[inbound_keys.c.contact_id, inbound_keys.c.key],
            set_={"first_seen_at": new_key.excluded.first_seen_at, "message_id": None},
            where=inbound_keys.c.first_seen_at <= _p("cutoff"),
        ).returning(inbound_keys.c.key)
        self.key_message = select(inbound_keys.c.message_id).where(
            inbound_keys.c.contact_id == _p("contact_id"), inbound_keys.c.key == _p("key")
        )
        # UPDATE reserves bind names equal to column names, hence the b_ prefix.
        self.link_key = (
            update(inbound_keys)
            .where(
                inbound_keys.c.contact_id == _p("b_contact_id"), inbound_keys.c.key == _p("b_key")
            )
            .values(message_id=_p("b_message_id"))
        )

        self.insert_message = messages.insert().returning(messages.c.id)
        self.insert_turn = turns.insert().returning(turns.c.id)
        self.insert_event = events.insert()

        self.newest_inbound = select(func.max(messages.c.id)).where(
            messages.c.contact_id == _p("contact_id"), messages.c.direction == "in"
        )

        self.claim_lease = (
            update(contacts)
            .where(
                contacts.c.id == _p("contact_id"),
                (contacts.c.lease_expires_at.is_(None))
                | (contacts.c.lease_expires_at <= _p("now")),
            )
            .values(lease_owner=_p("owner"), lease_expires_at=_p("expires"))
        )
        self.release_lease = (
            update(contacts)
            .where(contacts.c.id == _p("contact_id"), contacts.c.lease_owner == _p("owner"))
            .values(lease_owner=None, lease_expires_at=None)
        )

        # Safety stops at ingest. A minor overrides any other stop; an opt-out overrides a
        # completed funnel (so it never reactivates) but never a minor.
        stop = {
            "stopped_at": func.coalesce(contacts.c.stopped_at, _p("b_now")),
            "stage": STOPPED_STAGE,
        }
        self.stop_minor = (
            update(contacts)
            .where(
                contacts.c.id == _p("b_id"),
                (contacts.c.stop_reason.is_(None)) | (contacts.c.stop_reason != Reason.MINOR.value),
            )
            .values(**stop, stop_reason=Reason.MINOR.value)
        )
        self.stop_opt_out = (
            update(contacts)
            .where(
                contacts.c.id == _p("b_id"),
                (contacts.c.stop_reason.is_(None))
                | (contacts.c.stop_reason.not_in([Reason.MINOR.value, Reason.OPT_OUT.value])),
            )
            .values(**stop, stop_reason=Reason.OPT_OUT.value)
        )

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
                messages.c.created_at >= _p("since"),
                messages.c.contact_id != _p("contact_id"),
            )
            .order_by(messages.c.id.desc())
            .limit(_p("limit", type_=Integer))
        )

        # State of one contact. Pending = inbound newer than the last answered one.
        self.contact = select(contacts).where(contacts.c.id == _p("contact_id"))
        answered = (
            select(func.coalesce(func.max(turns.c.last_inbound_id), 0))
            .where(turns.c.contact_id == _p("contact_id"))
            .scalar_subquery()
        )
        view = select(
            messages.c.id,
            messages.c.direction,
            messages.c.kind,
            messages.c.text,
            messages.c.created_at,
            messages.c.language,
        ).where(messages.c.contact_id == _p("contact_id"))
        self.pending = (
            view.where(messages.c.direction == "in", messages.c.id > answered)
            .order_by(messages.c.id)
            .limit(50)
        )
        self.history = view.order_by(messages.c.id.desc()).limit(_p("limit", type_=Integer))
        self.cycle_replies = (
            select(messages.c.text)
            .where(
                messages.c.contact_id == _p("contact_id"),
                messages.c.direction == "out",
                messages.c.kind == "reply",
                messages.c.created_at >= _p("cycle_started_at"),
            )
            .order_by(messages.c.id)
        )
        self.recent_replies = (
            select(messages.c.text)
            .where(messages.c.contact_id == _p("contact_id"), messages.c.direction == "out")
            .order_by(messages.c.id.desc())
            .limit(_p("limit", type_=Integer))
        )
