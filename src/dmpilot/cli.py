"""The `dmpilot` command: thin Typer commands over the same store and engine as the server."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from dmpilot import __version__
from dmpilot.domain.persona import Persona
from dmpilot.logs import logging_config
from dmpilot.personas import PersonaError, load_persona
from dmpilot.settings import Settings
from dmpilot.store import Store

app = typer.Typer(
    help="dmpilot answers Instagram DMs as an AI persona, and never embarrasses the account.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"  DMPILOT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            if err["loc"]
            else f"  {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
        fail("the configuration is not valid:\n" + "\n".join(lines))


def open_store(settings: Settings) -> Store:
    try:
        return Store.open(settings.database_url, pool_size=2)
    except SQLAlchemyError as exc:
        fail(
            f"cannot open the database {settings.database_url!r}: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}",
            code=1,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
) -> None:
    """Run the webhook server (SQLite, the example persona and the scripted brain by default)."""
    import uvicorn

    from dmpilot.web.auth import is_loopback

    settings = load_settings()
    if settings.token is None and not is_loopback(host):
        fail(
            f"refusing to listen on {host} without a webhook token: anyone could drive the "
            "account. Set DMPILOT_WEBHOOK_TOKEN, or listen on 127.0.0.1."
        )
    persona = load_persona_or_fail(settings)
    open_store(settings).close()  # migrate once, with a clear error if the database is away
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own files; /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="dmpilot-metrics-")
    console.print(
        f"dmpilot {__version__}: persona [bold]{persona.name}[/], brain "
        f"[bold]{settings.brain_kind}[/], database {settings.database_url}",
        highlight=False,
    )
    uvicorn.run(
        "dmpilot.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (serve does this by itself)."""
    settings = load_settings()
    open_store(settings).close()
    console.print(f"schema is up to date in {settings.database_url}", highlight=False)


@app.command()
def pause(
    reason: Annotated[str, typer.Option("--reason", help="Why: recorded with the pause.")],
) -> None:
    """Kill switch: stop every reply at once. Inbound messages are still stored."""
    from dmpilot.engine import utcnow

    if not reason.strip():
        fail("--reason must say why you are pausing")
    store = open_store(load_settings())
    state = store.set_paused(True, reason.strip(), f"cli:{os.getenv('USER', 'unknown')}", utcnow())
    console.print(f"[bold red]paused[/]: {state.reason}", highlight=False)


@app.command()
def resume() -> None:
    """Lift the kill switch."""
    from dmpilot.engine import utcnow

    store = open_store(load_settings())
    store.set_paused(False, None, f"cli:{os.getenv('USER', 'unknown')}", utcnow())
    console.print("[bold green]resumed[/]: replies are on")


@app.command()
def convert(
    subscriber_id: Annotated[str, typer.Argument(help="The contact's ManyChat subscriber id.")],
    channel: Annotated[str, typer.Option(help="The contact's channel.")] = "manychat",
) -> None:
    """Mark a contact converted: its next message gets the goodbye, then it is stopped."""
    from dmpilot.engine import utcnow

    store = open_store(load_settings())
    if not store.mark_converted(channel, subscriber_id, utcnow(), "cli"):
        fail(f"no contact {subscriber_id!r} on channel {channel!r}", code=1)
    console.print(f"[bold green]converted[/]: {subscriber_id} gets the goodbye next")


@app.command()
def status() -> None:
    """Show the kill switch, the configuration and the last 24 hours of decisions."""
    from dmpilot.engine import utcnow

    settings = load_settings()
    store = open_store(settings)
    state = store.control()
    summary = store.summary(utcnow() - timedelta(hours=24))
    if state.paused:
        console.print(
            f"[bold red]PAUSED[/] since {state.changed_at:%Y-%m-%d %H:%M} UTC by "
            f"{state.changed_by}: {state.reason}",
            highlight=False,
        )
    else:
        console.print("[bold green]running[/]: replies are on")
    console.print(
        f"brain {settings.brain_kind} · database {settings.database_url} · "
        f"{summary['contacts']} contacts ({summary['stopped']} stopped) · "
        f"{summary['inbound']} inbound / {summary['outbound']} outbound messages",
        highlight=False,
    )
    table = Table(title="decisions in the last 24 h")
    table.add_column("event")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for kind, reason, count in summary["events"]:
        table.add_row(kind, reason or "—", str(count))
    console.print(table)


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def contact_ref(store: Store, ref: str) -> int:
    from dmpilot.audit import find_contact_id

    contact_id = find_contact_id(store, ref)
    if contact_id is None:
        fail(f"no contact {ref!r}: give a subscriber id or @username", code=1)
    return contact_id


@app.command()
def audit(
    since: Annotated[
        datetime | None, typer.Option(formats=DATE_FORMATS, help="Only messages since (UTC).")
    ] = None,
    contact: Annotated[
        str | None, typer.Option(help="One contact: subscriber id or @username.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, one row per contact.")] = False,
    max_findings: Annotated[
        int, typer.Option(min=0, help="Exit 1 when there are more findings than this.")
    ] = 0,
) -> None:
    """Find duplicates, loops, repeated exits, link spam and everything sent after a stop."""
    from rich.progress import Progress

    from dmpilot.audit import run_audit
    from dmpilot.audit.report import as_csv as render_csv
    from dmpilot.audit.report import as_json as render_json
    from dmpilot.audit.report import print_report
    from dmpilot.audit.run import STEPS
    from dmpilot.engine import utcnow

    if as_json and as_csv:
        fail("choose one of --json and --csv")
    settings = load_settings()
    persona = load_persona_or_fail(settings)
    store = open_store(settings)
    contact_id = contact_ref(store, contact) if contact else None
    machine = as_json or as_csv
    with Progress(console=errors, transient=True, disable=machine) as progress:
        task = progress.add_task("auditing", total=STEPS)

        def step(name: str) -> None:
            progress.update(task, description=name, advance=1)

        report = run_audit(
            store,
            persona,
            utcnow(),
            since=since,
            contact_id=contact_id,
            similarity_threshold=settings.similarity_threshold,
            progress=step,
        )
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
    contact: Annotated[str, typer.Argument(help="Subscriber id or @username.")],
) -> None:
    """One conversation as a timeline: messages, stages, decisions and their reasons."""
    from dmpilot.audit.history import timeline

    store = open_store(load_settings())
    info, entries = timeline(store, contact_ref(store, contact))
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
            text = f"[dim]{entry.text} {entry.reason or ''}{detail}[/]"
            arrow = "·"
        else:
            text = entry.text
            arrow = "[cyan]←[/]" if entry.kind == "in" else "[green]→[/]"
        table.add_row(f"{entry.at:%m-%d %H:%M:%S}", arrow, entry.stage or "", text)
    console.print(table)


@app.command()
def stats(
    since: Annotated[
        datetime | None, typer.Option(formats=DATE_FORMATS, help="Only since (UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Funnel, conversion, stops, blocked repetitions, errors, tokens and cost."""
    import json
    from dataclasses import asdict

    from dmpilot.audit.stats import Prices, compute

    settings = load_settings()
    persona = load_persona_or_fail(settings)
    store = open_store(settings)
    figures = compute(
        store, persona, since, Prices(settings.price_input_per_mtok, settings.price_output_per_mtok)
    )
    if as_json:
        typer.echo(json.dumps(asdict(figures), indent=2, default=str))
        return
    console.print(
        f"{figures.contacts} contacts · {figures.inbound} inbound / {figures.outbound} outbound "
        f"({figures.messages_per_contact:.1f} messages per contact) · {figures.exits} exits",
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
    if figures.links:
        clicks = Table(title="tracked link: sent → clicked, per stage")
        for column in ("stage", "sent", "clicked", "rate"):
            clicks.add_column(column, justify="right")
        for row in figures.links:
            clicks.add_row(
                row["stage"], str(row["sent"]), str(row["clicked"]), f"{row['rate']:.0%}"
            )
        console.print(clicks)


def load_persona_or_fail(settings: Settings) -> Persona:
    try:
        return load_persona(settings.persona)
    except PersonaError as exc:
        fail(str(exc))


@app.command("check-persona")
def check_persona(
    path: Annotated[
        Path | None, typer.Argument(help="Persona YAML (default: the bundled one).")
    ] = None,
) -> None:
    """Validate a persona file and summarise its funnel."""
    try:
        persona = load_persona(path)
    except PersonaError as exc:
        fail(str(exc))
    stages = ", ".join(
        f"{s.name} (from reply {persona.entry_threshold(s.name) + 1}, cap {s.max_replies})"
        for s in persona.stages
    )
    console.print(
        f"[bold green]ok[/]: {persona.name} · languages {', '.join(persona.languages)} · "
        f"stages {stages} · link {persona.link.url}",
        highlight=False,
    )


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(min=1, max=2000, help="Simulated fans.")] = 60,
) -> None:
    """Fill a database with a realistic simulated history (scripted brain, real engine)."""
    import asyncio

    from dmpilot.demo import run_demo
    from dmpilot.domain.language import load_models
    from dmpilot.engine import utcnow

    settings = load_settings()
    persona = load_persona_or_fail(settings)
    store = open_store(settings)
    load_models()
    with console.status(f"simulating {contacts} fans through the engine…"):
        outcomes = asyncio.run(run_demo(store, persona, utcnow() - timedelta(days=4), contacts))
    summary = ", ".join(f"{reason} {count}" for reason, count in outcomes.most_common())
    console.print(f"[bold green]demo history written[/] to {settings.database_url}: {summary}")
    console.print(
        "try: dmpilot audit · dmpilot stats · dmpilot history fan005 · dmpilot history fan020",
        highlight=False,
    )


@app.callback()
def main(
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="Database URL for this command (else DMPILOT_DATABASE_URL or ./dmpilot.db).",
        ),
    ] = None,
) -> None:
    """dmpilot answers Instagram DMs as an AI persona, and never embarrasses the account."""
    if database:
        os.environ["DMPILOT_DATABASE_URL"] = database


def run() -> None:
    """Console entry point: an unexpected failure is a one-line error, not a traceback."""
    try:
        app(prog_name="dmpilot")
    except SQLAlchemyError as exc:
        errors.print(f"[bold red]error:[/] database: {str(exc).splitlines()[0]}", highlight=False)
        raise SystemExit(1) from None
    except Exception as exc:
        if os.environ.get("DMPILOT_LOG_LEVEL", "").lower() == "debug":
            raise
        errors.print(
            f"[bold red]error:[/] {type(exc).__name__}: {exc} "
            "(set DMPILOT_LOG_LEVEL=debug for the traceback)",
            highlight=False,
        )
        raise SystemExit(1) from None
