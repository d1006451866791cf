"""Durable baselines for the webhook benchmark: the same request as dmpilot's webhook, doing
N durable transactions through SQLAlchemy with dmpilot's own engine (same pragmas, same
pool) and nothing else: no dedup, no lease, no model, no policy.

    BASELINE_DATABASE_URL=sqlite:///b.db BASELINE_TRANSACTIONS=3 \\
        uvicorn baseline_app:app --app-dir bench --port 8001

Transactions (like a turn's): 1. upsert the contact and store the message; 2. read the
contact's recent messages; 3. store the reply and an event. With BASELINE_TRANSACTIONS=1
only the first runs. Each runs in the threadpool, as dmpilot's store work does.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from anyio import to_thread
from fastapi import FastAPI, Request
from sqlalchemy.dialects import postgresql, sqlite

from dmpilot.store.database import create_db_engine

metadata = sa.MetaData()
contacts = sa.Table(
    "baseline_contacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("external_id", sa.String(128), nullable=False, unique=True),
    sa.Column("last_inbound_at", sa.DateTime, nullable=False),
)
messages = sa.Table(
    "baseline_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("contact_id", sa.Integer, nullable=False, index=True),
    sa.Column("direction", sa.String(3), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
events = sa.Table(
    "baseline_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("contact_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

TRANSACTIONS = int(os.environ.get("BASELINE_TRANSACTIONS", "3"))
engine = create_db_engine(
    os.environ["BASELINE_DATABASE_URL"], int(os.environ.get("BASELINE_POOL_SIZE", "5"))
)
metadata.create_all(engine)
app = FastAPI()


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values: dict[str, Any] = {
        "external_id": sa.bindparam("e"),
        "last_inbound_at": sa.bindparam("t"),
    }
    statement = insert(contacts).values(values)
    return statement.on_conflict_do_update(
        index_elements=["external_id"], set_={"last_inbound_at": statement.excluded.last_inbound_at}
    ).returning(contacts.c.id)


UPSERT = _upsert(engine.dialect.name)
RECENT = (
    sa.select(messages.c.direction, messages.c.text)
    .where(messages.c.contact_id == sa.bindparam("c"))
    .order_by(messages.c.id.desc())
    .limit(20)
)


def store_message(subscriber: str, text: str) -> int:
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as db:
        contact_id: int = db.execute(UPSERT, {"e": subscriber, "t": now}).scalar_one()
        db.execute(
            messages.insert(),
            {"contact_id": contact_id, "direction": "in", "text": text, "created_at": now},
        )
    return contact_id


def history(contact_id: int) -> int:
    with engine.begin() as db:
        return len(db.execute(RECENT, {"c": contact_id}).all())


def store_reply(contact_id: int, reply: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as db:
        db.execute(
            messages.insert(),
            {"contact_id": contact_id, "direction": "out", "text": reply, "created_at": now},
        )
        db.execute(events.insert(), {"contact_id": contact_id, "kind": "reply", "created_at": now})


@app.post("/webhooks/manychat")
async def webhook(request: Request) -> dict[str, Any]:
    payload = await request.json()
    subscriber = str((payload.get("subscriber") or {}).get("id") or "")
    text = str(payload.get("last_input_text") or "")
    contact_id = await to_thread.run_sync(store_message, subscriber, text)
    reply = text[:20]
    if TRANSACTIONS >= 3:
        await to_thread.run_sync(history, contact_id)
        await to_thread.run_sync(store_reply, contact_id, reply)
    return {
        "should_send": True,
        "response": reply,
        "stage": "cold",
        "should_stop": False,
        "delay_seconds": 0,
        "reason": None,
    }
