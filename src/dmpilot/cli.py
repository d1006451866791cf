"""The `dmpilot` command: thin Typer commands over the same store and engine as the server."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from dmpilot import __version__
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
    try:
        persona = load_persona(settings.persona)
    except PersonaError as exc:
        fail(str(exc))
    open_store(settings).close()  # migrate once, with a clear error if the database is away
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
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


@app.callback()
def main() -> None:
    """dmpilot answers Instagram DMs as an AI persona, and never embarrasses the account."""
