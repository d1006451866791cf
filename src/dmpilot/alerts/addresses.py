"""Checking where alerts go, for the settings: a webhook URL and e-mail addresses.

Errors name the variable and the fix, never the value (a webhook URL's path is a secret).
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from urllib.parse import urlsplit

WEBHOOK_VARIABLE = "DMPILOT_ALERT_WEBHOOK_URL"
MAX_ADDRESSES = 20


# Slack's and Discord's webhook URLs are about 120 characters; httpx refuses very long ones.
MAX_WEBHOOK_URL = 2048
# A host name or an IP address, nothing more: no scheme, no credentials, no path.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+"  # smtp.example.com, 10.0.0.5
    r"|\[?[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\]?"  # ::1, [2001:db8::1]
)


def checked_host(variable: str, value: str) -> str:
    """An SMTP server's host name or IP address; ValueError (never repeating what was
    given: it may hold a password) for anything else."""
    if len(value) > 253 or not _HOST.fullmatch(value):
        raise ValueError(
            f"{variable} is a host name or IP address only (e.g. smtp.example.com): no "
            "scheme, user, password or path; the port goes in DMPILOT_ALERT_SMTP_PORT"
        )
    return value


def checked_webhook_url(value: str) -> str | None:
    """The URL stripped, None when blank; ValueError unless it is an http(s) address."""
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_WEBHOOK_URL:
        raise ValueError(
            f"{WEBHOOK_VARIABLE} is longer than {MAX_WEBHOOK_URL} characters: copy the "
            "incoming-webhook URL again from Slack or Discord"
        )
    if any(not "\x21" <= char <= "\x7e" for char in value):
        raise ValueError(
            f"{WEBHOOK_VARIABLE} holds a space, a control or a non-ASCII character: copy the "
            "incoming-webhook URL again from Slack or Discord"
        )
    try:
        parts = urlsplit(value)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:  # a malformed IPv6 host or port
        usable = False
    if not usable:
        raise ValueError(
            f"{WEBHOOK_VARIABLE} must be an http:// or https:// address, e.g. "
            "https://hooks.slack.com/services/… (Discord: the webhook URL followed by /slack)"
        )
    return value


def checked_address(variable: str, value: str) -> str:
    """One e-mail address (`name@example.com`, or `Name <name@example.com>`)."""
    value = value.strip()
    if any(char in value for char in "\r\n\t") or any(ord(char) < 32 for char in value):
        raise ValueError(f"{variable} holds a control character: give plain e-mail addresses")
    _, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not (at and local and "." in domain and " " not in address):
        raise ValueError(
            f"{variable}: {value[:80]!r} is not an e-mail address, e.g. ops@example.com"
        )
    return value


def checked_addresses(variable: str, value: str) -> list[str]:
    """Comma-separated e-mail addresses, each checked; at least one."""
    parts = [part for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError(f"{variable} needs at least one e-mail address, e.g. ops@example.com")
    if len(parts) > MAX_ADDRESSES:
        raise ValueError(f"{variable} holds more than {MAX_ADDRESSES} addresses: use a list alias")
    return [checked_address(variable, part) for part in parts]
