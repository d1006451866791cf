"""ManyChat Public API: the delivery worker's Sender for ManyChat (POST /fb/sending/sendContent).

The hard part is not the request but reading the outcome. A delivery is retried only when
ManyChat certainly did not deliver it; whenever it might have, the result is UNKNOWN and the
worker leaves it alone, because a duplicate DM is worse than a missing one.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from dmpilot.domain.delivery import OutboundDelivery, SendResult

SEND_PATH = "/fb/sending/sendContent"
PAGE_INFO_PATH = "/fb/page/getInfo"

# ManyChat did not process these: an overloaded or failing front end, or its own timeout.
_RETRY_5XX = frozenset({500, 502, 503, 504})
# Request Timeout and Conflict say "not done, try again" (the same set the vendor SDKs retry).
_RETRY_4XX = frozenset({408, 409})
# Raised before a single byte of the request left: nothing can have been delivered.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Raised while building the request (a header or body httpx cannot encode): nothing was sent,
# and the same request would be refused again.
_UNBUILDABLE = (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError)
_MAX_DETAIL = 300  # keep vendor text short in error strings, logs and the database


class ManyChatSender:
    """Pushes one text to one subscriber through ManyChat and says what happened."""

    channel = "manychat"

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.manychat.com",
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._secret_forms = _secret_forms(api_key)
        # Sent per request, not as a client default: a key httpx cannot encode then fails
        # one send (scrubbed) instead of raising out of the constructor.
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            # A redirect would re-send the DM somewhere else; report it instead.
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, delivery: OutboundDelivery) -> SendResult:
        body = {
            "subscriber_id": subscriber_id(delivery.recipient),
            "data": {
                "version": "v2",
                "content": {
                    "type": "instagram",
                    "messages": [{"type": "text", "text": delivery.text}],
                    "actions": [],
                    "quick_replies": [],
                },
            },
            # No message_tag: tags (HUMAN_AGENT) are for human agents, never for model replies.
        }
        try:
            request = self._client.build_request("POST", SEND_PATH, json=body, headers=self._auth)
        except _UNBUILDABLE as exc:
            return SendResult.failed(
                self._scrub(f"cannot build the ManyChat request: {_describe(exc)}")
            )
        try:
            response = await self._client.send(request)
        except _NOT_SENT as exc:
            return SendResult.retry(self._scrub(f"ManyChat not reached: {_describe(exc)}"))
        except httpx.UnsupportedProtocol as exc:
            # A base URL without http(s): nothing was sent, and retrying cannot fix the setting.
            return SendResult.failed(self._scrub(f"bad ManyChat base URL: {_describe(exc)}"))
        except httpx.LocalProtocolError as exc:
            # Our own request breaks HTTP (e.g. an illegal header value): h11 refuses it
            # before writing it, so nothing left, and the same request would be refused again.
            return SendResult.failed(
                self._scrub(f"request refused before sending: {_describe(exc)}")
            )
        except httpx.TransportError as exc:
            # Read/write timeouts, dropped connections, protocol errors: the request may have
            # reached ManyChat and the DM may be out. Never retried.
            return SendResult.unknown(
                self._scrub(f"no answer from ManyChat after sending: {_describe(exc)}")
            )
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> SendResult:
        code = response.status_code
        if response.is_success:
            payload = _json(response)
            status = payload.get("status") if isinstance(payload, dict) else None
            if status == "success":
                return SendResult.sent(_message_id(payload))
            if status == "error":
                # ManyChat itself says it refused; its word is final, so no retry.
                return SendResult.failed(
                    self._scrub(f"ManyChat error ({code}): {_detail(response)}")
                )
            # A 2xx we cannot read: ManyChat accepted the request and may have sent the DM.
            return SendResult.unknown(
                self._scrub(f"ManyChat answered {code} without a status: {_detail(response)}")
            )
        if code == 429:
            # Rate limited before processing; wait as long as ManyChat asks.
            return SendResult.retry(
                self._scrub(f"ManyChat rate limit (429): {_detail(response)}"),
                after_seconds=retry_after_seconds(response.headers.get("retry-after")),
            )
        if code in _RETRY_5XX or code in _RETRY_4XX:
            # Not processed (see the sets above): safe to send again, after any Retry-After.
            return SendResult.retry(
                self._scrub(f"ManyChat unavailable ({code}): {_detail(response)}"),
                after_seconds=retry_after_seconds(response.headers.get("retry-after")),
            )
        if code >= 500:
            # Other 5xx (501, proxies' 52x): nothing says the request was not processed.
            return SendResult.unknown(self._scrub(f"ManyChat answered {code}: {_detail(response)}"))
        # 3xx and the remaining 4xx (bad subscriber, bad key, wrong URL): the same request
        # will be refused again, so it fails for good with ManyChat's reason.
        return SendResult.failed(self._scrub(f"ManyChat refused ({code}): {_detail(response)}"))

    async def probe(self) -> str | None:
        """None when the key works; otherwise one line saying what is wrong (for startup)."""
        try:
            response = await self._client.get(PAGE_INFO_PATH, headers=self._auth)
        except httpx.LocalProtocolError as exc:
            return self._scrub(f"ManyChat API key unusable in a header: {_describe(exc)}")
        except _UNBUILDABLE as exc:
            return self._scrub(f"cannot reach ManyChat at {self.base_url}: {_describe(exc)}")
        code = response.status_code
        if code in (401, 403):
            return self._scrub(
                f"ManyChat refused the API key ({code}): {_detail(response)}; "
                "check the key under ManyChat Settings → API (format <page_id>:<secret>)"
            )
        payload = _json(response)
        if response.is_success and isinstance(payload, dict) and payload.get("status") == "success":
            return None
        return self._scrub(f"ManyChat page check failed ({code}): {_detail(response)}")

    def _scrub(self, text: str) -> str:
        # Error texts are logged and stored: never let the key in, even if a server echoes it
        # or an exception quotes it escaped (h11: "Illegal header value b'Bearer <key>\\n'").
        for form in self._secret_forms:
            text = text.replace(form, "***")
        text = " ".join(text.split())
        for form in self._secret_forms:  # the key's whitespace, if any, was just folded
            text = text.replace(" ".join(form.split()), "***")
        return text


def _secret_forms(api_key: str) -> tuple[str, ...]:
    """The key and its secret half, raw and as error texts quote them (repr of str and of
    bytes, backslash and JSON escapes, percent-encoding); longest first, so a longer form is
    masked whole before a shorter one could leave a piece of it."""
    forms: set[str] = set()
    for secret in {api_key, api_key.strip(), api_key.partition(":")[2]}:
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


def subscriber_id(recipient: str) -> int | str:
    """ManyChat ids are integers on the wire; anything else is passed through unchanged."""
    if recipient.isascii() and recipient.isdigit() and not recipient.startswith("0"):
        return int(recipient)
    return recipient


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


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # not JSON, or not decodable text
        return None


def _message_id(payload: dict[str, Any]) -> str | None:
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    for key in ("message_id", "mid"):
        value = data.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _detail(response: httpx.Response) -> str:
    """ManyChat's own words (`message`, `code`, `details`), else the start of the body."""
    payload = _json(response)
    if isinstance(payload, dict):
        parts = [
            f"{key}={payload[key]}" for key in ("message", "code", "details") if payload.get(key)
        ]
        if parts:
            return " ".join(parts)[:_MAX_DETAIL]
    text = response.text.strip()
    return text[:_MAX_DETAIL] if text else "empty body"


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
