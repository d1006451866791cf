"""The tombstones of forgotten contacts and the salt they are keyed with.

The salt is made once, on first use, and kept in the database's `privacy` row: every
process and every restart reads the same one, and a backup carries it with the
tombstones it keys. A salt in a setting could be lost or changed, and every forgotten
minor would then be a stranger again.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from dmpilot.domain.decision import EventKind, Reason
from dmpilot.domain.funnel import STOPPED_STAGE
from dmpilot.domain.privacy import tombstone
from dmpilot.store.driver import execute
from dmpilot.store.events import add_event
from dmpilot.store.schema import contacts, privacy, tombstones
from dmpilot.store.statements import Statements

_ROW = 1
# Every new contact is looked up: built once, run through the driver.
_SALT = select(privacy.c.salt).where(privacy.c.id == _ROW)
_BURIED = select(tombstones.c.digest).where(tombstones.c.digest == bindparam("digest"))


def ensure_row(db: Connection, sql: Statements) -> None:
    """Create the privacy row with a new salt unless it exists (any process may be first:
    the one that inserts wins, the others read its salt)."""
    # secrets, not the engine's RandomSource: a seeded source would make a guessable salt.
    db.execute(
        sql.insert(privacy)
        .values(id=_ROW, salt=secrets.token_hex(32))
        .on_conflict_do_nothing(index_elements=[privacy.c.id])
    )


def lock_row(db: Connection, sql: Statements) -> None:
    """Take the privacy row for this transaction (PostgreSQL; SQLite already serialises
    writers): processes running retention at once take turns."""
    ensure_row(db, sql)
    db.execute(select(privacy.c.id).where(privacy.c.id == _ROW).with_for_update())


def salt(db: Connection, sql: Statements) -> str:
    ensure_row(db, sql)
    value: str = db.execute(_SALT).scalar_one()
    return value


def bury(db: Connection, sql: Statements, channel: str, external_id: str) -> None:
    digest = tombstone(salt(db, sql), channel, external_id)
    db.execute(
        sql.insert(tombstones)
        .values(digest=digest)
        .on_conflict_do_nothing(index_elements=[tombstones.c.digest])
    )


def is_forgotten(db: Connection, channel: str, external_id: str) -> bool:
    """Whether this channel id belongs to a forgotten contact. Never creates the salt: with
    no salt yet, nothing was ever forgotten."""
    current = execute(db, _SALT, {}).scalar()
    if current is None:
        return False
    digest = tombstone(current, channel, external_id)
    return execute(db, _BURIED, {"digest": digest}).first() is not None


def stop_if_forgotten(
    db: Connection, contact_id: int, channel: str, external_id: str, now: datetime
) -> bool:
    """A contact just created whose channel id was forgotten starts stopped: no reply, no
    funnel, ever (a returning forgotten minor is never pitched). True when it matched."""
    if not is_forgotten(db, channel, external_id):
        return False
    stopped = db.execute(
        update(contacts)
        .where(contacts.c.id == contact_id, contacts.c.stopped_at.is_(None))
        .values(
            stopped_at=now,
            stop_reason=Reason.FORGOTTEN.value,
            stage=STOPPED_STAGE,
            goodbye_due=False,
        )
    )
    if stopped.rowcount == 1:
        add_event(db, now, EventKind.STOPPED, Reason.FORGOTTEN, contact_id=contact_id)
    return True
