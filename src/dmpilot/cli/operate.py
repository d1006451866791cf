"""Operating the account: the kill switch, conversions, status, the delivery queue."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from dmpilot.cli.common import (
    ContactArgument,
    app,
    console,
    contact_name,
    fail,
    find_contact,
    open_system,
    operator,
    plural,
    read,
)
from dmpilot.domain.commands import MarkConverted, Pause, Resume
from dmpilot.domain.contacts import ContactRef, ConvertOutcome
from dmpilot.domain.delivery import DeliveryState
from dmpilot.runtime import utcnow


@app.command()
def pause(
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why: recorded with the pause.")
    ],
) -> None:
    """Kill switch: stop every reply at once. Inbound messages are still stored."""
    if not reason.strip():
        fail("--reason must say why you are pausing")
    system = open_system()
    state = asyncio.run(system.engine.handle(Pause(reason.strip(), operator())))
    console.print(f"[bold red]paused[/]: {state.reason}", highlight=False)


@app.command()
def resume() -> None:
    """Lift the kill switch."""
    system = open_system()
    asyncio.run(system.engine.handle(Resume(operator())))
    console.print("[bold green]resumed[/]: replies are on")


@app.command()
def convert(
    contact: ContactArgument,
) -> None:
    """Mark a contact converted: its next message gets the goodbye, then it is stopped."""
    system = open_system()
    found = find_contact(system, contact)
    result = asyncio.run(system.engine.handle(MarkConverted(ContactRef.parse(contact), "cli")))
    name = contact_name(found)
    if result.outcome is ConvertOutcome.ALREADY:
        console.print(f"{name} was already marked converted; nothing changed", highlight=False)
    elif result.outcome is ConvertOutcome.STOPPED:
        console.print(
            f"[bold green]converted[/]: {name} — it is stopped ({found.stop_reason}), so "
            "nothing will be sent to it",
            highlight=False,
        )
    else:
        console.print(
            f"[bold green]converted[/]: {name} gets the goodbye with its next message",
            highlight=False,
        )


@app.command()
def status() -> None:
    """Show the kill switch, the configuration and the last 24 hours of decisions."""
    system = open_system()
    settings = system.settings
    state, summary, queue = read(
        system,
        lambda reads: (
            reads.control(),
            reads.summary(utcnow() - timedelta(hours=24)),
            reads.delivery_counts(),
        ),
    )
    if state.paused:
        when = f"{state.changed_at:%Y-%m-%d %H:%M} UTC" if state.changed_at else "?"
        console.print(
            f"[bold red]PAUSED[/] since {when} by {state.changed_by}: {state.reason}",
            highlight=False,
        )
    else:
        console.print("[bold green]running[/]: replies are on")
    console.print(
        f"brain {settings.brain_kind} · delivery {settings.delivery_mode.value} · database "
        f"{system.store.url} · {plural(summary.contacts, 'contact')} "
        f"({summary.stopped} stopped) · {plural(summary.inbound, 'inbound message')} / "
        f"{plural(summary.outbound, 'outbound message')}",
        highlight=False,
    )
    waiting = {s.value: n for s, n in queue.items() if n and s is not DeliveryState.SENT}
    if waiting:
        console.print(
            "deliveries: " + " · ".join(f"{n} {s}" for s, n in sorted(waiting.items())),
            highlight=False,
        )
    table = Table(title="decisions in the last 24 h")
    table.add_column("event")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for kind, reason, count in summary.events:
        table.add_row(kind, reason or "—", str(count))
    console.print(table)


@app.command()
def deliveries(
    state: Annotated[
        DeliveryState | None,
        typer.Option(
            metavar="STATE",
            help="Only deliveries in this state: pending, sending, sent, failed, unknown, "
            "cancelled.",
        ),
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(
            metavar="CONTACT", help="Only this contact: subscriber id, @username or id:<n>."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, metavar="N", help="Newest first, at most.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """The outbox: each delivery with its state, attempts and last error."""
    system = open_system()
    # `is not None`: an empty --contact is a mistake to name, not a way to say "everyone".
    contact_id = find_contact(system, contact).id if contact is not None else None
    rows, counts = read(
        system,
        lambda reads: (
            reads.deliveries(state=state, contact_id=contact_id, limit=limit),
            reads.delivery_counts(),
        ),
    )
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "subscriber": r.subscriber,
                        "username": r.username,
                        "channel": r.channel,
                        "kind": r.kind,
                        "state": r.state,
                        "via": r.via,
                        "attempts": r.attempts,
                        "not_before": r.not_before.isoformat(),
                        "created_at": r.created_at.isoformat(),
                        "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                        "last_error": r.last_error,
                        "provider_message_id": r.provider_message_id,
                        "text": r.text,
                    }
                    for r in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    total = counts[state] if state is not None and contact_id is None else None
    if state is None and contact_id is None:
        total = sum(counts.values())
    shown = plural(len(rows), "delivery", "deliveries")
    title = f"the newest {shown} of {total}" if total and total > len(rows) else shown
    table = Table(title=title + ", newest first")
    for column in ("id", "contact", "kind", "state", "attempts", "due / sent (UTC)", "last error"):
        table.add_column(column)
    for r in rows:
        when = r.sent_at or r.not_before
        table.add_row(
            str(r.id),
            f"@{r.username}" if r.username else r.subscriber,
            r.kind,
            r.state + (f" ({r.via})" if r.via else ""),
            str(r.attempts),
            f"{when:%m-%d %H:%M:%S}",
            (r.last_error or "")[:60],
        )
    console.print(table)
