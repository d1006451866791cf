"""Every query parameter and form field the console takes, validated into typed values.

Anything wrong is a ConsoleError (a 4xx page that says what to fix), never a 500: a bad
cursor, an oversized or unprintable search, a non-numeric contact id, a form that is not
UTF-8 or is too large.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from starlette.requests import ClientDisconnect

from dmpilot.domain.contacts import MAX_INTERNAL_ID, ContactStatus
from dmpilot.store.reads.console import InboxCursor, Search, SearchKind, TimelineCursor
from dmpilot.web.console.views import ConsoleError

MAX_SEARCH = 100
MAX_FORM_BYTES = 32 * 1024
MAX_FORM_FIELDS = 16
MAX_NEXT = 500
_ID_DIGITS = len(str(MAX_INTERNAL_ID))
# Typed text may hold line breaks and tabs; nothing else from the control range.
_ALLOWED_CONTROLS = frozenset("\n\r\t")


def unprintable(text: str, *, multiline: bool = False) -> str | None:
    """The first control character or lone surrogate in `text`, as U+XXXX, if any."""
    for ch in text:
        if multiline and ch in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return f"U+{ord(ch):04X}"
    return None


def checked_text(value: str, what: str, max_length: int, *, multiline: bool = False) -> str:
    if len(value) > max_length:
        raise ConsoleError(
            413 if len(value) > 10 * max_length else 422,
            f"the {what} is {len(value):,} characters long; it may have at most {max_length:,}",
        )
    bad = unprintable(value, multiline=multiline)
    if bad is not None:
        raise ConsoleError(
            400, f"the {what} holds a control character or broken text ({bad}); remove it"
        )
    return value


# -- query parameters --------------------------------------------------------------------------


def query_value(request: Request, name: str) -> str | None:
    """One query parameter; given twice is a mistake, not a choice between the two."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ConsoleError(400, f"give {name}= once, not {len(values)} times")
    return values[0] if values else None


def search(text: str | None) -> Search | None:
    """`id:42` → that contact; `@sam` → usernames starting with sam; `sam` → usernames
    starting with sam, or the subscriber id sam."""
    if text is None:
        return None
    value = checked_text(text, "search", MAX_SEARCH).strip()
    if not value:
        return None
    if value.lower().startswith("id:"):
        return Search(SearchKind.INTERNAL, str(contact_id(value[3:].strip())))
    if value.startswith("@"):
        name = value[1:].strip()
        if not name:
            raise ConsoleError(400, "'@' needs the start of a username after it, e.g. @sam")
        return Search(SearchKind.USERNAME, name)
    return Search(SearchKind.ANY, value)


def stage(value: str | None, known: Collection[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in known:
        choices = ", ".join(sorted(known))
        raise ConsoleError(400, f"stage={value[:40]!r} is not a stage; choose one of {choices}")
    return value


def status(value: str | None) -> ContactStatus | None:
    if value is None or value == "":
        return None
    try:
        return ContactStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in ContactStatus)
        raise ConsoleError(400, f"state={value[:40]!r} is not a state; choose {choices}") from None


def flag(value: str | None, name: str) -> bool:
    if value is None or value in ("", "0"):
        return False
    if value == "1":
        return True
    raise ConsoleError(400, f"{name}= takes 1 (on) or 0 (off)")


def inbox_cursor(value: str | None, name: str) -> InboxCursor | None:
    if value is None or value == "":
        return None
    try:
        return InboxCursor.parse(value)
    except ValueError as exc:
        raise ConsoleError(400, f"{name}=: {exc}; go back to the first page") from None


def timeline_cursor(value: str | None, name: str) -> TimelineCursor | None:
    if value is None or value == "":
        return None
    try:
        return TimelineCursor.parse(value)
    except ValueError as exc:
        raise ConsoleError(400, f"{name}=: {exc}") from None


def contact_id(text: str) -> int:
    """dmpilot's numeric contact id, as the console's links write it."""
    if not (text.isascii() and text.isdigit()) or len(text) > _ID_DIGITS + 4:
        raise ConsoleError(
            400, f"{text[:40]!r} is not a contact id: contact ids are numbers, e.g. 42"
        )
    number = int(text)
    if number > MAX_INTERNAL_ID:
        raise ConsoleError(404, f"no contact {number}: contact ids go up to {MAX_INTERNAL_ID}")
    return number


def safe_next(value: str | None) -> str:
    """Where to go after signing in: only a path of this console, never another site
    (`//evil.example`, `https://…`, `/console\\@evil`, control characters)."""
    default = "/console/overview"
    if not value or len(value) > MAX_NEXT or unprintable(value) is not None or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/console"):
        return default
    if parts.path != "/console" and not parts.path.startswith("/console/"):
        return default  # /consoleX is not ours
    return value


# -- forms ---------------------------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, bounded, strictly UTF-8, each field once."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # No content type: an empty form (a client that sends no fields); anything else is
    # not one of our forms (multipart would need a parser for files nobody uploads).
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise ConsoleError(415, "send the console's forms as the browser does (urlencoded)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 12 or int(declared) > MAX_FORM_BYTES):
        raise ConsoleError(413, f"the form is larger than {MAX_FORM_BYTES:,} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise ConsoleError(413, f"the form is larger than {MAX_FORM_BYTES:,} bytes")
    except ClientDisconnect:
        raise ConsoleError(400, "the form was not received whole") from None
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise ConsoleError(
            400, f"the form is not valid: UTF-8 form data of at most {MAX_FORM_FIELDS} fields"
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise ConsoleError(400, f"the form holds {name!r} twice")
        fields[name] = value
    return fields
