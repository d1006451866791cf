"""The last audit's findings per contact (table `audit_findings`), kept for the console's
"has audit findings" filter and its audit page.

Only an audit over the whole history may write them: a partial one (since a date, one
contact) would erase what it did not look at.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert

from dmpilot.domain.findings import AuditReport
from dmpilot.store.schema import audit_findings


def replace_findings(db: Connection, report: AuditReport, found_at: datetime) -> int:
    """Replace every stored finding with `report`'s, in the caller's transaction (pass a
    write unit's `db`, so readers see the old set or the new one, never a mix). Returns
    the number of rows written."""
    db.execute(delete(audit_findings))
    rows = [
        {
            "contact_id": contact.contact_id,
            "finding": finding.value,
            "count": count,
            "found_at": found_at,
        }
        for contact in report.by_contact
        for finding, count in sorted(contact.counts.items())
        if count > 0
    ]
    if rows:
        db.execute(insert(audit_findings), rows)
    return len(rows)
