"""`dmpilot alerts`: the recent incidents and their alerts, or a test alert to every target."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dmpilot.alerts.chore import send_everywhere
from dmpilot.alerts.senders import describe_targets, senders_from
from dmpilot.alerts.text import check_message
from dmpilot.bootstrap import System
from dmpilot.cli.common import app, console, errors, fail, load_settings, open_system, read
from dmpilot.store.alerts import AlertBook, AlertRow, record_test

NOT_CONFIGURED = (
    "no alert target is configured: set DMPILOT_ALERT_WEBHOOK_URL, or DMPILOT_ALERT_SMTP_HOST "
    "with DMPILOT_ALERT_SMTP_FROM and DMPILOT_ALERT_SMTP_TO (README, 'Alerts')"
)


@app.command()
def alerts(
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, metavar="N", help="Newest first, at most.")
    ] = 20,
    test: Annotated[
        bool, typer.Option("--test", help="Send a test alert to every configured target.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Recent incidents (one row each, with how often they were alerted), or --test."""
    settings = load_settings()
    if test and not settings.alerts_configured:
        fail(NOT_CONFIGURED)
    system = open_system(settings)
    if test:
        _send_test(system)
        return
    rows = read(system, lambda reads: AlertBook(reads.db).recent(limit))
    if as_json:
        typer.echo(json.dumps([_as_json(row) for row in rows], indent=2))
        return
    targets = describe_targets(settings)
    where = "; ".join(targets) if targets else "nowhere — " + NOT_CONFIGURED
    console.print(f"alerts go to: {escape(where)}", highlight=False)
    table = Table(title="incidents, newest alert first (UTC)")
    for column in ("last alert", "incident", "state", "alerts", "outcome", "summary"):
        table.add_column(column)
    for row in rows:
        state = (
            f"resolved {row.resolved_at:%m-%d %H:%M}"
            if row.resolved_at
            else f"open since {row.opened_at:%m-%d %H:%M}"
        )
        table.add_row(
            f"{row.last_sent_at:%Y-%m-%d %H:%M}",
            escape(row.key),
            state,
            str(row.count),
            row.outcome or "sending",
            escape(row.summary),
        )
    console.print(table)


def _send_test(system: System) -> None:
    """Each target's outcome printed and recorded as an event; exit 1 if any failed."""
    settings = system.settings
    message = check_message(system.persona.name, settings.public_url)
    senders = senders_from(settings)
    failures = asyncio.run(send_everywhere(senders, message, settings.alert_timeout_seconds))
    with system.store.writing() as unit:
        record_test(unit.db, system.clock.now(), failures)
    shown = dict(zip((s.target for s in senders), describe_targets(settings), strict=True))
    for target, error in failures.items():
        where = escape(shown.get(target, target.value))
        if error is None:
            console.print(f"[bold green]sent[/]: {where}", highlight=False)
        else:
            errors.print(f"[bold red]failed[/]: {where}: {escape(error)}", highlight=False)
    if any(error is not None for error in failures.values()):
        raise typer.Exit(1)


def _as_json(row: AlertRow) -> dict[str, object]:
    return {
        "key": row.key,
        "kind": row.kind,
        "contact_id": row.contact_id,
        "opened_at": row.opened_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "last_sent_at": row.last_sent_at.isoformat(),
        "count": row.count,
        "outcome": row.outcome,
        "summary": row.summary,
    }
