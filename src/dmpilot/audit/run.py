"""Running every check over one scope and gathering the findings per contact."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, func, or_, select

from dmpilot.audit.checks import SINGLE_CHECKS, Counts, Scope, sequence_checks
from dmpilot.audit.findings import AuditReport, ContactFindings, Finding
from dmpilot.domain.persona import Persona
from dmpilot.domain.repetition import DEFAULT_SIMILARITY_THRESHOLD
from dmpilot.store import Store
from dmpilot.store.schema import contacts, messages

Progress = Callable[[str], None]
STEPS = 1 + len(SINGLE_CHECKS)


def find_contact_id(store: Store, ref: str) -> int | None:
    """A contact by subscriber id or @username."""
    ref = ref.strip()
    condition = (
        contacts.c.username == ref[1:]
        if ref.startswith("@")
        else or_(contacts.c.external_id == ref, contacts.c.username == ref)
    )
    with store.engine.connect() as db:
        return db.scalar(select(contacts.c.id).where(condition).order_by(contacts.c.id).limit(1))


def run_audit(
    store: Store,
    persona: Persona,
    now: datetime,
    since: datetime | None = None,
    contact_id: int | None = None,
    similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
    progress: Progress | None = None,
) -> AuditReport:
    started = time.perf_counter()
    scope = Scope(since, contact_id, now, persona, similarity_threshold)
    step = progress or (lambda _name: None)
    found: dict[Finding, Counts] = {}
    with store.engine.connect() as db:
        step("duplicates, double replies, languages")
        found.update(sequence_checks(db, scope))
        for finding, check in SINGLE_CHECKS.items():
            step(finding.value.lower().replace("_", " "))
            found[finding] = check(db, scope)
        message_count, contact_count = _sizes(db, scope)
        by_contact = _by_contact(db, found)
    return AuditReport(
        since, message_count, contact_count, time.perf_counter() - started, by_contact
    )


def _sizes(db: Connection, scope: Scope) -> tuple[int, int]:
    row = db.execute(
        select(func.count(), func.count(func.distinct(messages.c.contact_id))).where(
            *scope.messages_where()
        )
    ).one()
    return int(row[0]), int(row[1])


def _by_contact(db: Connection, found: dict[Finding, Counts]) -> list[ContactFindings]:
    ids = sorted({cid for counts in found.values() for cid in counts})
    names: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.execute(
            select(contacts.c.id, contacts.c.external_id, contacts.c.username).where(
                contacts.c.id.in_(chunk)
            )
        )
        names.update({cid: (external, username) for cid, external, username in rows})
    report = {cid: ContactFindings(cid, *names.get(cid, (str(cid), None))) for cid in ids}
    for finding, counts in found.items():
        for cid, count in counts.items():
            report[cid].counts[finding] += count
    return sorted(report.values(), key=lambda c: (-c.total, c.contact_id))
