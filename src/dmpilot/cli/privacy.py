"""A contact's data from the command line: everything stored about it as JSON (`export`),
and erasing it (`forget`). Retention runs in the worker (DMPILOT_RETENTION_DAYS)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

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
from dmpilot.domain.commands import ForgetContact
from dmpilot.domain.contacts import ActionOutcome, ContactInfo, ContactRef
from dmpilot.domain.privacy import FORGOTTEN_PREFIX
from dmpilot.store.privacy.export import export_bytes

STDOUT = "-"


def _name(contact: ContactInfo) -> str:
    # A forgotten contact's channel id is a placeholder, no one's: name it by its row.
    if contact.external_id.startswith(FORGOTTEN_PREFIX):
        return f"id:{contact.id} (forgotten)"
    return contact_name(contact)


@app.command()
def export(
    contact: ContactArgument,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the JSON to FILE (readable by you only) instead of stdout.",
        ),
    ] = STDOUT,
) -> None:
    """Everything stored about a contact, as one JSON document: its row, messages, events,
    deliveries, facts, turns, link tokens and clicks, follow-ups (a data subject request)."""
    system = open_system()
    found = find_contact(system, contact)
    now = system.clock.now()
    document = read(system, lambda reads: reads.export_contact(found.id, now))
    if document is None:  # forgotten or deleted since it was found
        fail(f"contact id:{found.id} is gone", code=1)
    data = export_bytes(document)
    if output == STDOUT:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): no traceback, and nothing more to flush.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        return
    _write_private(Path(output), data)
    count = sum(len(rows) for rows in document["tables"].values())
    console.print(f"exported {_name(found)}: {plural(count, 'row')} to {output}", highlight=False)


def _write_private(path: Path, data: bytes) -> None:
    """Write the file readable by its owner only: it holds a person's messages."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # an existing file keeps its mode otherwise
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(f"cannot write {str(path)[:200]!r}: {reason}", code=1)


@app.command()
def forget(
    contact: ContactArgument,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: forgetting cannot be undone.")
    ] = False,
) -> None:
    """Erase a contact's data: its messages, facts and identifiers go, the counts stay for
    `stats` and `audit`, and whoever writes again with its channel id stays stopped."""
    system = open_system()
    found = find_contact(system, contact)
    if found.external_id.startswith(FORGOTTEN_PREFIX):
        console.print(f"{_name(found)} was already forgotten; nothing changed", highlight=False)
        return
    if not yes:
        if not sys.stdin.isatty():
            fail(f"forgetting {_name(found)} cannot be undone: add --yes to confirm")
        if not typer.confirm(f"Erase everything stored about {_name(found)}?"):
            fail("nothing was forgotten", code=1)
    ref = ContactRef.parse(f"id:{found.id}")
    result = asyncio.run(system.engine.handle(ForgetContact(ref, operator())))
    if result.contact is None:
        fail(f"contact id:{found.id} is gone", code=1)
    if result.outcome is ActionOutcome.REFUSED:
        fail(f"{_name(found)}: {result.detail}", code=1)
    if result.outcome is ActionOutcome.ALREADY:
        console.print(f"{_name(found)} was already forgotten; nothing changed", highlight=False)
        return
    scrubbed = result.scrubbed
    console.print(
        f"[bold red]forgotten[/]: id:{found.id} — {plural(scrubbed.get('messages', 0), 'message')}"
        f" and {plural(scrubbed.get('events', 0), 'event detail')} blanked, "
        f"{plural(scrubbed.get('contact_facts', 0), 'fact')} deleted; it stays stopped if it "
        "writes again",
        highlight=False,
    )
