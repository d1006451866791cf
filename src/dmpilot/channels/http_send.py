"""What the channel senders that push a DM over HTTP (ManyChat, Instagram) share: when a
transport error means "nothing left" and when "it may be out", Retry-After, and keeping a
secret out of every error text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from dmpilot.domain.delivery import SendResult

# Raised before a single byte of the request left: nothing can have been delivered.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Raised while building the request (a header or body httpx cannot encode): nothing was sent,
# and the same request would be refused again.
UNBUILDABLE = (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError)
MAX_DETAIL = 300  # keep vendor text short in error strings, logs and the database


async def send_request(
    client: httpx.AsyncClient,
    request: httpx.Request,
    vendor: str,
    scrub: Callable[[str], str],
) -> httpx.Response | SendResult:
    """The vendor's answer, or what a transport error says about the DM."""
    try:
        return await client.send(request)
    except NOT_SENT as exc:
        return SendResult.retry(scrub(f"{vendor} not reached: {describe(exc)}"))
    except httpx.UnsupportedProtocol as exc:
        # A base URL without http(s): nothing was sent, and retrying cannot fix the setting.
        return SendResult.failed(scrub(f"bad {vendor} base URL: {describe(exc)}"))
    except httpx.LocalProtocolError as exc:
        # Our own request breaks HTTP (e.g. an illegal header value): h11 refuses it
        # before writing it, so nothing left, and the same request would be refused again.
        return SendResult.failed(scrub(f"request refused before sending: {describe(exc)}"))
    except httpx.TransportError as exc:
        # Read/write timeouts, dropped connections, protocol errors: the request may have
        # reached the vendor and the DM may be out. Never retried.
        return SendResult.unknown(scrub(f"no answer from {vendor} after sending: {describe(exc)}"))


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """The secrets raw and as error texts quote them (repr of str and of bytes, backslash and
    JSON escapes, percent-encoding); longest first, so a longer form is masked whole before a
    shorter one could leave a piece of it."""
    forms: set[str] = set()
    for secret in set(secrets):
        if len(secret.strip()) < 4:  # too short to be the secret; masking it mangles text
            continue
        forms |= {
            secret,
            repr(secret)[1:-1],
            repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
            secret.encode("unicode_escape").decode("ascii"),
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            quote(secret, safe=""),
            quote(secret),
        }
    return tuple(sorted((f for f in forms if f.strip()), key=len, reverse=True))


def scrub(text: str, forms: tuple[str, ...]) -> str:
    """`text` on one line with every form of the secret masked.

    Error texts are logged and stored: never let a secret in, even if a server echoes it or
    an exception quotes it escaped (h11: "Illegal header value b'Bearer <key>\\n'").
    """
    for form in forms:
        text = text.replace(form, "***")
    text = " ".join(text.split())
    for form in forms:  # the secret's whitespace, if any, was just folded
        text = text.replace(" ".join(form.split()), "***")
    return text


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it is not JSON (or not decodable text)."""
    try:
        return response.json()
    except ValueError:
        return None


def body_start(response: httpx.Response) -> str:
    """The start of the body, for a vendor answer that says nothing better."""
    text = response.text.strip()
    return text[:MAX_DETAIL] if text else "empty body"


def describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
