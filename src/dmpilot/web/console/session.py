"""Console sessions: a stateless signed cookie, and CSRF tokens derived from it.

The signing key is derived from the console secret (DMPILOT_CONSOLE_PASSWORD, else the
webhook token), so changing the password signs everyone out, and every server process —
however many, on however many hosts — accepts the others' cookies. Nothing is kept in
memory: no session store, no rate-limit counters.

A cookie is `<session id>.<expiry, epoch seconds>.<signature>`; the CSRF token of a session
is an HMAC of its id under its own derived key, so it cannot be computed without the
secret, and a token from one session is worthless in another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

COOKIE_NAME = "dmpilot_console"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf"
_MAX_COOKIE = 200  # a genuine cookie is about 80 characters


def _derive(secret: str, purpose: bytes) -> bytes:
    # One key per purpose, so a session signature can never pass for a CSRF token.
    return hmac.new(secret.encode("utf-8"), b"dmpilot-console/" + purpose, hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _epoch(moment: datetime) -> int:
    """Stored times are naive UTC (architecture: Time)."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def password_matches(supplied: str, secret: str) -> bool:
    """Constant time, whatever the lengths: both sides are hashed to 32 bytes first."""
    supplied_digest = hashlib.sha256(supplied.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(supplied_digest, hashlib.sha256(secret.encode("utf-8")).digest())


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    expires: int  # epoch seconds
    csrf: str


class Sessions:
    """Issues and checks session cookies and CSRF tokens under one console secret."""

    def __init__(self, secret: str) -> None:
        self._session_key = _derive(secret, b"session")
        self._csrf_key = _derive(secret, b"csrf")

    def issue(self, now: datetime, hours: float) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session_id = secrets.token_urlsafe(18)
        expires = _epoch(now) + int(hours * 3600)
        payload = f"{session_id}.{expires}"
        cookie = f"{payload}.{_mac(self._session_key, payload)}"
        return Session(session_id, expires, self.csrf_for(session_id)), cookie

    def check(self, cookie: str | None, now: datetime) -> Session | None:
        """The session a cookie carries, or None when it is missing, forged, signed under
        another secret, or expired."""
        if not cookie or len(cookie) > _MAX_COOKIE or not cookie.isascii():
            return None
        session_id, _, rest = cookie.partition(".")
        expires_text, _, signature = rest.partition(".")
        if not (session_id and expires_text.isdigit() and len(expires_text) <= 12 and signature):
            return None
        expected = _mac(self._session_key, f"{session_id}.{expires_text}")
        if not hmac.compare_digest(signature.encode("ascii"), expected.encode("ascii")):
            return None
        expires = int(expires_text)
        if expires <= _epoch(now):
            return None
        return Session(session_id, expires, self.csrf_for(session_id))

    def csrf_for(self, session_id: str) -> str:
        return _mac(self._csrf_key, session_id)

    @staticmethod
    def csrf_matches(session: Session, supplied: str | None) -> bool:
        if not supplied or len(supplied) > 100 or not supplied.isascii():
            return False
        return hmac.compare_digest(supplied.encode("ascii"), session.csrf.encode("ascii"))
