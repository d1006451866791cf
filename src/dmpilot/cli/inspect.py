"""Looking back: the audit, one conversation's history, the figures."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from dmpilot.audit import run_audit
from dmpilot.audit.report import as_csv as render_csv
from dmpilot.audit.report import as_json as render_json
from dmpilot.audit.report import print_report
from dmpilot.audit.stats import Prices, compute
from dmpilot.cli.common import (
    ContactArgument,
    app,
    console,
    errors,
    fail,
    find_contact,
    open_system,
    read,
)
from dmpilot.runtime import utcnow
from dmpilot.store.findings import replace_findings
from dmpilot.store.reads.audit import STEPS

DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


@app.command()
def audit(
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=DATE_FORMATS,
            metavar="DATE",
            help="Only messages since (UTC), e.g. 2026-11-20 or 2026-11-20T14:00.",
        ),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(metavar="CONTACT", help="One contact: subscriber id, @username or id:<n>."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, one row per contact.")] = False,
    max_findings: Annotated[
        int,
        typer.Option(min=0, metavar="N", help="Exit 1 when there are more findings than this."),
    ] = 0,
) -> None:
    """Find duplicates, loops, repeated exits, link spam, sends after a stop and
    deliveries that failed or whose outcome is unknown."""
    if as_json and as_csv:
        fail("choose one of --json and --csv")
    system = open_system()
    # `is not None`: an empty --contact is a mistake to name, not a way to say "everyone".
    contact_id = find_contact(system, contact).id if contact is not None else None
    machine = as_json or as_csv
    with Progress(console=errors, transient=True, disable=machine) as progress:
        task = progress.add_task("auditing", total=STEPS)

        def step(name: str) -> None:
            progress.update(task, description=name, advance=1)

        report = read(
            system,
            lambda reads: run_audit(
                reads,
                system.persona,
                utcnow(),
                links=system.engine.links,
                since=since,
                contact_id=contact_id,
                similarity_threshold=system.settings.similarity_threshold,
                progress=step,
            ),
        )
    if since is None and contact_id is None:
        # The whole history: these findings replace the stored ones (the console's
        # "has audit findings" filter and audit page). A partial audit stores nothing,
        # since it would erase what it did not look at.
        with system.store.writing() as unit:
            replace_findings(unit.db, report, utcnow())
    if as_json:
        typer.echo(render_json(report))
    elif as_csv:
        typer.echo(render_csv(report), nl=False)
    else:
        print_report(report, console)
    if report.total > max_findings:
        raise typer.Exit(1)


@app.command()
def history(
    contact: ContactArgument,
) -> None:
    """One conversation as a timeline: messages, stages, decisions, deliveries."""
    system = open_system()
    found = find_contact(system, contact)
    info, entries = read(system, lambda reads: reads.timeline(found.id))
    stopped = (
        f" · stopped {info['stopped_at']:%Y-%m-%d %H:%M} ({info['stop_reason']})"
        if info["stopped_at"]
        else ""
    )
    console.print(
        f"[bold]{info['external_id']}[/] @{info['username'] or '—'} · {info['name'] or ''} · "
        f"stage {info['stage'] or 'new'} · language {info['language'] or '?'}{stopped}",
        highlight=False,
    )
    table = Table(show_lines=False)
    table.add_column("time (UTC)")
    table.add_column("")
    table.add_column("stage")
    table.add_column("message / decision")
    for entry in entries:
        if entry.kind == "event":
            shown = {
                key: value
                for key, value in (entry.detail or {}).items()
                if value not in (None, 0, "", [], {}) and key not in ("brain", "model")
            }
            detail = " " + " ".join(f"{k}={v}" for k, v in shown.items()) if shown else ""
            text = f"[dim]{escape(entry.text)} {entry.reason or ''}{escape(detail)}[/]"
            arrow = "·"
        else:
            text = escape(entry.text)
            if entry.kind == "out" and entry.delivery and entry.delivery != "sent via response":
                text += f" [dim]({entry.delivery})[/]"
            arrow = "[cyan]←[/]" if entry.kind == "in" else "[green]→[/]"
        table.add_row(f"{entry.at:%m-%d %H:%M:%S}", arrow, entry.stage or "", text)
    console.print(table)


@app.command()
def stats(
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=DATE_FORMATS,
            metavar="DATE",
            help="Only since (UTC), e.g. 2026-11-20 or 2026-11-20T14:00.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Funnel, conversion, stops, blocked repetitions, errors, deliveries, tokens and cost."""
    system = open_system()
    settings = system.settings
    raw = read(system, lambda reads: reads.raw_stats(since))
    figures = compute(
        raw,
        system.persona,
        since,
        Prices.for_model(
            settings.model, settings.price_input_per_mtok, settings.price_output_per_mtok
        ),
    )
    if as_json:
        typer.echo(json.dumps(asdict(figures), indent=2, default=str))
        return
    console.print(
        f"{figures.contacts} contacts · {figures.inbound} inbound / {figures.outbound} outbound "
        f"({figures.messages_per_contact:.1f} messages per contact) · {figures.exits} exits",
        highlight=False,
    )
    rate = figures.nudge_answer_rate
    console.print(
        f"follow-ups: {figures.nudges_sent} nudges sent · {figures.nudges_answered} answered"
        + (f" ({rate:.0%})" if rate is not None else ""),
        highlight=False,
    )
    funnel = Table(title="funnel")
    funnel.add_column("stage")
    funnel.add_column("contacts reached", justify="right")
    funnel.add_column("from previous stage", justify="right")
    funnel.add_column("now in stage", justify="right")
    for stage, reached, rate in figures.reached:
        funnel.add_row(
            stage,
            str(reached),
            f"{rate:.0%}" if rate is not None else "—",
            str(figures.by_stage.get(stage, 0)),
        )
    for stage in ("new", "stopped", "converted"):
        funnel.add_row(stage, "", "", str(figures.by_stage.get(stage, 0)))
    console.print(funnel)
    safety = Table(title="stops, blocks and errors")
    safety.add_column("what")
    safety.add_column("count", justify="right")
    for reason, count in sorted(figures.stops.items()):
        safety.add_row(f"stopped: {reason}", str(count))
    for reason, count in figures.blocked.items():
        safety.add_row(f"blocked: {reason}", str(count))
    for reason, count in figures.errors.items():
        safety.add_row(f"skipped: {reason}", str(count))
    for state, count in sorted(figures.deliveries.items()):
        safety.add_row(f"deliveries: {state}", str(count))
    console.print(safety)
    cost = Table(title="tokens and cost per day")
    for column in ("day", "replies", "input", "output", "cache read", "cost $", "$ / reply"):
        cost.add_column(column, justify="right")
    for day in figures.per_day:
        cost.add_row(
            day["day"],
            str(day["replies"]),
            str(day["input_tokens"]),
            str(day["output_tokens"]),
            str(day["cache_read_tokens"]),
            f"{day['cost_usd']:.4f}",
            f"{day['cost_per_reply_usd']:.5f}",
        )
    console.print(cost)
    console.print(
        f"prompt tokens read from the model's cache: {figures.cache_read_share:.0%}",
        highlight=False,
    )
    if figures.intents:
        asked = Table(title="what contacts asked for, and what came of it")
        for column in ("intent", "contacts", "clicked the link", "converted", "rate"):
            asked.add_column(column, justify="right")
        for row in figures.intents:
            asked.add_row(
                row["intent"],
                str(row["contacts"]),
                str(row["clicked"]),
                str(row["converted"]),
                f"{row['conversion']:.0%}",
            )
        console.print(asked)
    if figures.links:
        clicks = Table(title="tracked link: sent → clicked, per stage")
        for column in ("stage", "sent", "clicked", "rate"):
            clicks.add_column(column, justify="right")
        for row in figures.links:
            clicks.add_row(
                str(row["stage"]), str(row["sent"]), str(row["clicked"]), f"{row['rate']:.0%}"
            )
        console.print(clicks)
