"""Acting on one contact as the console does: take it over, write to it as a person, hand
it back, stop it, start its funnel over. Everything the console does is scriptable."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
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
)
from dmpilot.domain.commands import HandBack, ResetContact, SendAsHuman, StopContact, TakeOver
from dmpilot.domain.contacts import ActionOutcome, ContactActionResult, ContactInfo, ContactRef
from dmpilot.engine.core import ContactAction


def _act(
    contact: str, command: Callable[[ContactRef, str], ContactAction]
) -> tuple[ContactInfo, ContactActionResult]:
    """Run one action on the contact named; a refusal is exit 1 with its reason."""
    system = open_system()
    found = find_contact(system, contact)
    ref = ContactRef.parse(f"id:{found.id}")
    result = asyncio.run(system.engine.handle(command(ref, operator())))
    if result.outcome is ActionOutcome.REFUSED:
        fail(f"{contact_name(found)}: {result.detail}", code=1)
    return result.contact or found, result


@app.command()
def handoff(contact: ContactArgument) -> None:
    """Take a contact over: the bot stays silent for it until `handback` (or until
    DMPILOT_HANDOFF_HOURS pass). Its messages are still stored."""
    found, result = _act(contact, TakeOver)
    if result.outcome is ActionOutcome.ALREADY:
        console.print(f"{contact_name(found)} is already with {found.handoff_by}", highlight=False)
        return
    until = f"{found.handoff_until:%Y-%m-%d %H:%M} UTC" if found.handoff_until else "?"
    console.print(
        f"[bold yellow]handed off[/]: {contact_name(found)} — the bot is silent for it "
        f"until {until} or `dmpilot handback`",
        highlight=False,
    )


@app.command()
def handback(contact: ContactArgument) -> None:
    """Give a contact back to the bot; it answers the contact's next message, with what the
    person wrote in its context."""
    found, result = _act(contact, HandBack)
    if result.outcome is ActionOutcome.ALREADY:
        console.print(f"{contact_name(found)} was not handed off; nothing changed", highlight=False)
        return
    console.print(
        f"[bold green]handed back[/]: the bot answers {contact_name(found)} again", highlight=False
    )


@app.command()
def say(
    contact: ContactArgument,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What to send, as a person.")],
    key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="Idempotency key: the same key never sends twice (default: a new one).",
        ),
    ] = None,
) -> None:
    """Send a message to a contact as a person, through the outbox (push or hybrid delivery).
    Takes the contact over if no one had; fenced by the stop, the kill switch and the
    24-hour window."""
    key = key if key is not None else secrets.token_urlsafe(12)
    found, result = _act(
        contact, lambda ref, by: SendAsHuman(contact=ref, by=by, text=text, key=key)
    )
    if result.outcome is ActionOutcome.DUPLICATE:
        console.print(
            f"a message with key {key!r} was already queued; nothing sent", highlight=False
        )
        return
    console.print(
        f"[bold green]queued[/]: delivery {result.delivery_id} to {contact_name(found)} "
        "(the bot is silent for it until `dmpilot handback`)",
        highlight=False,
    )


@app.command()
def stop(contact: ContactArgument) -> None:
    """Stop a contact for good: nothing more is sent to it, whatever it writes."""
    found, result = _act(contact, StopContact)
    if result.outcome is ActionOutcome.ALREADY:
        console.print(
            f"{contact_name(found)} was already stopped ({found.stop_reason})", highlight=False
        )
        return
    console.print(f"[bold red]stopped[/]: {contact_name(found)}", highlight=False)


@app.command()
def reset(contact: ContactArgument) -> None:
    """Start the funnel over for a contact whose funnel ended (or that an operator stopped).
    Never for a minor or an opt-out."""
    found, result = _act(contact, ResetContact)
    if result.outcome is ActionOutcome.ALREADY:
        console.print(f"{contact_name(found)} is not stopped; nothing to reset", highlight=False)
        return
    console.print(
        f"[bold green]reset[/]: {contact_name(found)} starts the funnel over with its next message",
        highlight=False,
    )
