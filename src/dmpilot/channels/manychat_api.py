"""ManyChat Public API: the delivery worker's Sender for ManyChat (POST /fb/sending/sendContent).

The hard part is not the request but reading the outcome. A delivery is retried only when
ManyChat certainly did not deliver it; whenever it might have, the result is UNKNOWN and the
worker leaves it alone, because a duplicate DM is worse than a missing one.
"""

from __future__ import annotations

from typing import Any

import httpx

from dmpilot.channels.http_send import (
    MAX_DETAIL,
    UNBUILDABLE,
    body_start,
    describe,
    json_body,
    retry_after_seconds,
    scrub,
    secret_forms,
    send_request,
)
from dmpilot.domain.delivery import OutboundDelivery, SendResult

__all__ = ["ManyChatSender", "retry_after_seconds", "subscriber_id"]

SEND_PATH = "/fb/sending/sendContent"
PAGE_INFO_PATH = "/fb/page/getInfo"

# ManyChat did not process these: an overloaded or failing front end, or its own timeout.
_RETRY_5XX = frozenset({500, 502, 503, 504})
# Request Timeout and Conflict say "not done, try again" (the same set the vendor SDKs retry).
_RETRY_4XX = frozenset({408, 409})


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
        except UNBUILDABLE as exc:
            return SendResult.failed(
                self._scrub(f"cannot build the ManyChat request: {describe(exc)}")
            )
        # A transport error is a retry only if nothing left, else unknown (see http_send).
        answer = await send_request(self._client, request, "ManyChat", self._scrub)
        if isinstance(answer, SendResult):
            return answer
        return self._outcome(answer)

    def _outcome(self, response: httpx.Response) -> SendResult:
        code = response.status_code
        if response.is_success:
            payload = json_body(response)
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
            return self._scrub(f"ManyChat API key unusable in a header: {describe(exc)}")
        except UNBUILDABLE as exc:
            return self._scrub(f"cannot reach ManyChat at {self.base_url}: {describe(exc)}")
        code = response.status_code
        if code in (401, 403):
            return self._scrub(
                f"ManyChat refused the API key ({code}): {_detail(response)}; "
                "check the key under ManyChat Settings → API (format <page_id>:<secret>)"
            )
        payload = json_body(response)
        if response.is_success and isinstance(payload, dict) and payload.get("status") == "success":
            return None
        return self._scrub(f"ManyChat page check failed ({code}): {_detail(response)}")

    def _scrub(self, text: str) -> str:
        # Error texts are logged and stored: never let the key in (see http_send.scrub).
        return scrub(text, self._secret_forms)


def _secret_forms(api_key: str) -> tuple[str, ...]:
    """The key and its secret half (after `<page_id>:`), in every form an error quotes."""
    return secret_forms({api_key, api_key.strip(), api_key.partition(":")[2]})


def subscriber_id(recipient: str) -> int | str:
    """ManyChat ids are integers on the wire; anything else is passed through unchanged."""
    if recipient.isascii() and recipient.isdigit() and not recipient.startswith("0"):
        return int(recipient)
    return recipient


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
    payload = json_body(response)
    if isinstance(payload, dict):
        parts = [
            f"{key}={payload[key]}" for key in ("message", "code", "details") if payload.get(key)
        ]
        if parts:
            return " ".join(parts)[:MAX_DETAIL]
    return body_start(response)
