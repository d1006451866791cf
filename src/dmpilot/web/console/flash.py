"""What an action did, told on the page it redirects back to (`?done=<flash>`).

Flashes are a closed set of messages named in the URL: nothing an attacker writes into a
link is ever shown as text, and nothing needs storing between the two requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlencode

from fastapi import Request


class Tone(StrEnum):
    OK = "ok"
    INFO = "info"


class Flash(StrEnum):
    SIGNED_OUT = "signed_out"
    PAUSED = "paused"
    RESUMED = "resumed"
    ALREADY_RUNNING = "already_running"
    TAKEN_OVER = "taken_over"
    ALREADY_HANDOFF = "already_handoff"
    HANDED_BACK = "handed_back"
    NOT_IN_HANDOFF = "not_in_handoff"
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    CONVERTED = "converted"
    ALREADY_CONVERTED = "already_converted"
    CONVERTED_STOPPED = "converted_stopped"
    STOPPED = "stopped"
    ALREADY_STOPPED = "already_stopped"
    RESET = "reset"
    ALREADY_RESET = "already_reset"
    AUDITED = "audited"


_TEXT: dict[Flash, tuple[Tone, str]] = {
    Flash.SIGNED_OUT: (Tone.INFO, "You are signed out."),
    Flash.PAUSED: (Tone.OK, "Paused: nothing is sent to anyone until you resume."),
    Flash.RESUMED: (Tone.OK, "Resumed: the bot answers again."),
    Flash.ALREADY_RUNNING: (Tone.INFO, "It was already running."),
    Flash.TAKEN_OVER: (
        Tone.OK,
        "You have this conversation: the bot stays silent until you hand it back.",
    ),
    Flash.ALREADY_HANDOFF: (Tone.INFO, "A person already has this conversation."),
    Flash.HANDED_BACK: (Tone.OK, "Handed back: the bot answers this contact again."),
    Flash.NOT_IN_HANDOFF: (Tone.INFO, "The contact was not in handoff: nothing changed."),
    Flash.QUEUED: (Tone.OK, "Your message is queued for delivery."),
    Flash.DUPLICATE: (
        Tone.INFO,
        "That message was already queued (the form was sent twice): it goes out once.",
    ),
    Flash.CONVERTED: (Tone.OK, "Marked converted: the contact gets its goodbye, then nothing."),
    Flash.ALREADY_CONVERTED: (Tone.INFO, "The contact was already marked converted."),
    Flash.CONVERTED_STOPPED: (
        Tone.OK,
        "Marked converted. The contact is stopped, so nothing will be sent.",
    ),
    Flash.STOPPED: (Tone.OK, "Stopped: nothing will be sent to this contact again."),
    Flash.ALREADY_STOPPED: (Tone.INFO, "The contact was already stopped."),
    Flash.RESET: (Tone.OK, "The funnel starts over for this contact."),
    Flash.ALREADY_RESET: (Tone.INFO, "The contact was not stopped: nothing to reset."),
    Flash.AUDITED: (
        Tone.OK,
        "Audit finished over the whole history; its findings replace the last ones.",
    ),
}


@dataclass(frozen=True, slots=True)
class Shown:
    tone: Tone
    text: str


def flash_url(path: str, flash: Flash) -> str:
    return f"{path}?{urlencode({'done': flash.value})}"


def flash_of(request: Request) -> Shown | None:
    """The flash named by ?done=, if it is one of ours; anything else shows nothing."""
    value = request.query_params.get("done")
    if value is None:
        return None
    try:
        flash = Flash(value)
    except ValueError:
        return None
    tone, text = _TEXT[flash]
    return Shown(tone, text)
