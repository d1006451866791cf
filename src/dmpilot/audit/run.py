"""Running every check over one scope, through a read unit, and gathering the findings
per contact."""

from __future__ import annotations

import time
from datetime import datetime

from dmpilot.domain.findings import AuditReport, ContactFindings
from dmpilot.domain.links import LinkMatcher
from dmpilot.domain.persona import Persona
from dmpilot.domain.repetition import DEFAULT_SIMILARITY_THRESHOLD
from dmpilot.store.reads.audit import Progress, Scope
from dmpilot.store.units import ReadUnit


def run_audit(
    reads: ReadUnit,
    persona: Persona,
    now: datetime,
    *,
    links: LinkMatcher,
    since: datetime | None = None,
    contact_id: int | None = None,
    similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
    progress: Progress | None = None,
) -> AuditReport:
    started = time.perf_counter()
    scope = Scope(since, contact_id, now, persona, similarity_threshold, links)
    found, message_count, contact_count = reads.audit(scope, progress or (lambda _name: None))
    ids = sorted({cid for counts in found.values() for cid in counts})
    names = reads.contact_names(ids)
    report = {cid: ContactFindings(cid, *names.get(cid, (str(cid), None))) for cid in ids}
    for finding, counts in found.items():
        for cid, count in counts.items():
            report[cid].counts[finding] += count
    by_contact = sorted(report.values(), key=lambda c: (-c.total, c.contact_id))
    return AuditReport(
        since, message_count, contact_count, time.perf_counter() - started, by_contact
    )
