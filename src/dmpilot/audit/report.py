"""Rendering an audit: a Rich table for people, JSON or CSV for machines."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from dmpilot.domain.findings import AuditReport, Finding


def as_dict(report: AuditReport) -> dict[str, Any]:
    return {
        "since": report.since.isoformat() if report.since else None,
        "messages": report.messages,
        "contacts": report.contacts,
        "seconds": round(report.seconds, 3),
        "total": report.total,
        "totals": {finding.value: count for finding, count in report.totals.items()},
        "by_contact": [
            {
                "contact": c.external_id,
                "username": c.username,
                "findings": {f.value: n for f, n in c.counts.items() if n},
            }
            for c in report.by_contact
        ],
    }


def as_json(report: AuditReport) -> str:
    return json.dumps(as_dict(report), indent=2)


def as_csv(report: AuditReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["contact", "username", *(f.value for f in Finding)])
    for c in report.by_contact:
        writer.writerow([c.external_id, c.username or "", *(c.counts.get(f, 0) for f in Finding)])
    return out.getvalue()


def print_report(report: AuditReport, console: Console, limit: int = 25) -> None:
    totals = Table(title=f"audit: {report.messages} messages, {report.contacts} contacts")
    totals.add_column("finding")
    totals.add_column("count", justify="right")
    for finding, count in report.totals.items():
        style = "bold red" if count else "green"
        totals.add_row(finding.value, f"[{style}]{count}[/]")
    console.print(totals)
    if report.by_contact:
        table = Table(title=f"contacts with findings (top {min(limit, len(report.by_contact))})")
        table.add_column("contact")
        table.add_column("username")
        table.add_column("findings")
        for c in report.by_contact[:limit]:
            detail = ", ".join(f"{f.value}×{n}" for f, n in c.counts.most_common() if n)
            table.add_row(c.external_id, f"@{c.username}" if c.username else "—", detail)
        console.print(table)
    noun = "finding" if report.total == 1 else "findings"
    console.print(f"{report.total} {noun} in {report.seconds:.2f} s")
