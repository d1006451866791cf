"""Everything stored about one contact, as one JSON-ready document.

The tables come from the schema itself — every table with a `contact_id` column — so a
table added later is exported without anyone remembering to. Clicks are reached through
their link tokens, and events written before the contact had a row through what they name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from dmpilot.domain.privacy import EXPORT_FORMAT, EXPORT_VERSION
from dmpilot.store.privacy.mentions import mentioning
from dmpilot.store.schema import contacts, events, link_clicks, link_tokens, metadata


def contact_tables() -> list[Table]:
    """Every table with a row per contact (or many), as the schema declares them."""
    return [table for table in metadata.sorted_tables if "contact_id" in table.c]


def export_contact(db: Connection, contact_id: int, now: datetime) -> dict[str, Any] | None:
    """The contact's row and its rows in every table; None if there is no such contact."""
    contact = db.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().first()
    if contact is None:
        return None
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in contact_tables():
        order = list(table.primary_key.columns)
        rows = db.execute(select(table).where(table.c.contact_id == contact_id).order_by(*order))
        tables[table.name] = [encode_row(row) for row in rows.mappings()]
    tokens = select(link_tokens.c.token).where(link_tokens.c.contact_id == contact_id)
    clicks = db.execute(
        select(link_clicks).where(link_clicks.c.token.in_(tokens)).order_by(link_clicks.c.id)
    )
    tables["link_clicks"] = [encode_row(row) for row in clicks.mappings()]
    named = [row.id for row in mentioning(db, contact["external_id"], contact["username"])]
    if named:
        extra = db.execute(select(events).where(events.c.id.in_(named)).order_by(events.c.id))
        merged = tables["events"] + [encode_row(row) for row in extra.mappings()]
        tables["events"] = sorted(merged, key=lambda row: int(row["id"]))
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": encode(now),
        "contact": encode_row(contact),
        "tables": dict(sorted(tables.items())),
    }


def encode_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key): encode(value) for key, value in row.items()}


def encode(value: Any) -> Any:
    """A stored value as JSON: times as ISO 8601 (naive UTC, as stored), the rest as is."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def export_bytes(document: Mapping[str, Any]) -> bytes:
    """The document as UTF-8 JSON. A lone surrogate (stored before texts were scrubbed on
    the way in) becomes its JSON escape instead of failing the export."""
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return text.encode("utf-8", "backslashreplace")
