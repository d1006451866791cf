"""Meta's Instagram Send API: the delivery worker's Sender for the direct Instagram channel
(POST graph.instagram.com/<version>/<IG_ID>/messages, Instagram API with Instagram Login).

As with ManyChat, the hard part is reading the outcome. A delivery is retried only when Meta
certainly did not deliver it; whenever it might have, the result is UNKNOWN, because a
duplicate DM is worse than a missing one. Meta says why it refused in the body, not in the
HTTP status: `{"error": {"message", "type", "code", "error_subcode", "is_transient",
"fbtrace_id"}}`, and the code decides (see `_classify`).

Sources for the codes:
- [graph] Graph API, Handling Errors: developers.facebook.com/docs/graph-api/guides/error-handling
- [rate] Graph API, Rate Limits: developers.facebook.com/docs/graph-api/overview/rate-limiting
- [send] Messenger Platform, Send API error codes:
  developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes
  and Common Error Codes: developers.facebook.com/docs/messenger-platform/error-codes
- [page] Graph API reference, Page Messages errors:
  developers.facebook.com/docs/graph-api/reference/page/messages
- [ig] what graph.instagram.com answers in the field, e.g. HTTP 403 IGApiException code 10
  subcode 2534022 "This message is sent outside of allowed window." (ComposioHQ/composio#3604)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
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

log = logging.getLogger("dmpilot.delivery")

VENDOR = "Instagram"
MAX_TEXT_BYTES = 1000  # the Send API's limit on message.text, in UTF-8 bytes
SENDER_ACTIONS = ("mark_seen", "typing_on")  # sent in this order before a message

# Graph API throttling, app / user / page / custom level [graph][rate], and the Business Use
# Case limits Instagram Platform and Messenger calls fall under [rate]: Meta did not process
# the call, and asks us to wait.
_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80002, 80006})
# The access token expired, was revoked or is otherwise invalid (190), or the session behind
# it (102) [graph]: every send fails the same way until someone sets a new token.
_TOKEN_CODES = frozenset({102, 190})
# Outside the 24-hour standard messaging window (code 10): 2534022 on Instagram [ig], 2018278
# on Messenger, 2018065 "outside of allowed window ... News Messaging permission" [send].
_WINDOW_SUBCODES = frozenset({2534022, 2018278, 2018065})
_WINDOW_TEXT = "outside of allowed window"  # Meta's wording, whatever the subcode [send][ig]
# This one person cannot get the DM: 551 "This person isn't available right now" (blocked
# the account, deactivated) [send][page]; 10903 "This user can't reply to this activity"
# [page]. Retrying will not change it; other contacts are unaffected.
_RECIPIENT_CODES = frozenset({551, 10903})
# (code, subcode) pairs that name the recipient: 100/2018001 "No matching user found" [send],
# its Instagram form 100/2534014, and 200/1545041 "This person isn't available right now".
_RECIPIENT_PAIRS = frozenset({(100, 2018001), (100, 2534014), (200, 1545041)})
# The account lacks a capability or permission (3 API Method, 10 Permission Denied, 200-299
# API Permission) [graph], was blocked for policy violations (368) [graph][page], or has
# messages disabled in its settings (10904) [page]: every send would be refused alike.
_ACCOUNT_CODES = frozenset({3, 10, 368, 10904, *range(200, 300)})
# "Temporary send message failure. Please try again later." [send]: the send failed.
_SEND_FAILURE_CODES = frozenset({1200})
# "An unknown error occurred" (1), "An unexpected error has occurred" (2) [graph]: Meta
# cannot say what happened, and documents code 1 coming back although the messages were
# sent [send]. The DM may be out.
_UNEXPLAINED_CODES = frozenset({-1, 1, 2})
# Not processed: a gateway or front end that is down or overloaded.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class _Verdict(Enum):
    TOKEN = "token"
    RATE_LIMIT = "rate_limit"
    WINDOW = "window"
    RECIPIENT = "recipient"
    ACCOUNT = "account"
    SEND_FAILURE = "send_failure"
    UNEXPLAINED = "unexplained"


@dataclass(frozen=True, slots=True)
class GraphError:
    """Meta's error object, as far as it could be read."""

    code: int | None
    subcode: int | None
    message: str
    type: str
    fbtrace_id: str
    transient: bool

    @classmethod
    def read(cls, response: httpx.Response) -> GraphError | None:
        payload = json_body(response)
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            return None
        return cls(
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            message=_str(error.get("message")),
            type=_str(error.get("type")),
            fbtrace_id=_str(error.get("fbtrace_id")),
            transient=error.get("is_transient") is True,
        )

    def describe(self) -> str:
        """`message [code 10/2534022, IGApiException, transient, fbtrace ...]`, short."""
        tags: list[str] = []
        if self.code is not None:
            subcode = f"/{self.subcode}" if self.subcode is not None else ""
            tags.append(f"code {self.code}{subcode}")
        tags += [tag for tag in (self.type, "transient" if self.transient else "") if tag]
        if self.fbtrace_id:
            tags.append(f"fbtrace {self.fbtrace_id}")
        message = self.message or "no message"
        return (f"{message} [{', '.join(tags)}]" if tags else message)[:MAX_DETAIL]


class InstagramSender:
    """Pushes one text to one Instagram user through Meta's Send API and says what happened."""

    channel = "instagram"

    def __init__(
        self,
        access_token: str,
        account_id: str,
        graph_url: str = "https://graph.instagram.com/v25.0",
        timeout_seconds: float = 10.0,
        typing_seconds: float = 0.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self.account_id = account_id
        self._typing_seconds = typing_seconds
        self._sleep = sleep
        self._secret_forms = secret_forms({access_token, access_token.strip()})
        # Sent per request, never as ?access_token=: a query string ends up in proxies' and
        # servers' logs. Per request, not a client default, so a token httpx cannot encode
        # fails one send (scrubbed) instead of raising out of the constructor.
        self._auth = {"Authorization": f"Bearer {access_token}"}
        self._client = httpx.AsyncClient(
            base_url=self.graph_url,
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            # A redirect would re-send the DM somewhere else; report it instead.
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- sending ---------------------------------------------------------------------------

    async def send(self, delivery: OutboundDelivery) -> SendResult:
        size = len(delivery.text.encode("utf-8", "surrogatepass"))
        if size > MAX_TEXT_BYTES:
            # The validator refuses longer replies before they are queued; Meta would refuse
            # this one too, so nothing is sent.
            return SendResult.failed(
                f"text is {size} bytes; Instagram accepts at most {MAX_TEXT_BYTES} (UTF-8)"
            )
        if self._typing_seconds > 0:
            await self._act_human(delivery.recipient)
        body = {"recipient": {"id": delivery.recipient}, "message": {"text": delivery.text}}
        answer = await self._post(body)
        if isinstance(answer, SendResult):
            return answer
        return self._outcome(answer)

    async def _act_human(self, recipient: str) -> None:
        """Mark the contact's message seen, show "typing…", and take a moment.

        Cosmetic: a failure is logged and the message goes out all the same.
        """
        for action in SENDER_ACTIONS:
            answer = await self._post({"recipient": {"id": recipient}, "sender_action": action})
            if isinstance(answer, SendResult):
                log.warning("instagram %s not shown: %s", action, answer.error)
            elif not answer.is_success:
                log.warning(
                    "instagram %s refused (%d): %s",
                    action,
                    answer.status_code,
                    self._scrub(_detail(answer)),
                )
        await self._sleep(self._typing_seconds)

    async def _post(self, body: dict[str, Any]) -> httpx.Response | SendResult:
        path = f"/{self.account_id}/messages"
        try:
            request = self._client.build_request("POST", path, json=body, headers=self._auth)
        except UNBUILDABLE as exc:
            return SendResult.failed(
                self._scrub(f"cannot build the Instagram request: {describe(exc)}")
            )
        return await send_request(self._client, request, VENDOR, self._scrub)

    def _outcome(self, response: httpx.Response) -> SendResult:
        status = response.status_code
        error = GraphError.read(response)
        detail = error.describe() if error is not None else body_start(response)
        if response.is_success:
            message_id = _message_id(response)
            if message_id is not None:
                return SendResult.sent(message_id)
            # A 2xx we cannot read: Meta accepted the request and may have sent the DM.
            return SendResult.unknown(
                self._scrub(f"Instagram answered {status} without a message_id: {detail}")
            )
        verdict = _classify(error) if error is not None else None
        if verdict is not None:
            return self._verdict(verdict, status, detail, response)
        if status in _RETRY_STATUSES:
            # Throttled (429) or a front end that did not process it (502/503/504): safe to
            # send again, after any Retry-After.
            return SendResult.retry(
                self._scrub(f"Instagram unavailable ({status}): {detail}"),
                after_seconds=retry_after_seconds(response.headers.get("retry-after")),
            )
        if status >= 500:
            # Other 5xx: nothing says the request was not processed.
            return SendResult.unknown(self._scrub(f"Instagram answered {status}: {detail}"))
        # 3xx and the remaining 4xx (a bad parameter, a wrong URL): the same request will be
        # refused again, so it fails for good with Meta's reason.
        return SendResult.failed(self._scrub(f"Instagram refused ({status}): {detail}"))

    def _verdict(
        self, verdict: _Verdict, status: int, detail: str, response: httpx.Response
    ) -> SendResult:
        if verdict is _Verdict.TOKEN:
            return SendResult.failed(
                self._scrub(
                    f"Instagram refused the access token ({status}): {detail}; "
                    "set a new DMPILOT_META_ACCESS_TOKEN"
                ),
                pause_account=True,
            )
        if verdict is _Verdict.RATE_LIMIT:
            return SendResult.retry(
                self._scrub(f"Instagram rate limit ({status}): {detail}"),
                after_seconds=retry_after_seconds(response.headers.get("retry-after")),
            )
        if verdict is _Verdict.WINDOW:
            return SendResult.failed(
                self._scrub(f"outside Instagram's 24-hour messaging window ({status}): {detail}")
            )
        if verdict is _Verdict.RECIPIENT:
            return SendResult.failed(
                self._scrub(f"Instagram user unavailable ({status}): {detail}")
            )
        if verdict is _Verdict.ACCOUNT:
            return SendResult.failed(
                self._scrub(f"Instagram refused the account ({status}): {detail}"),
                pause_account=True,
            )
        if verdict is _Verdict.SEND_FAILURE:
            return SendResult.retry(
                self._scrub(f"Instagram send failed ({status}): {detail}"),
                after_seconds=retry_after_seconds(response.headers.get("retry-after")),
            )
        return SendResult.unknown(self._scrub(f"Instagram unexpected error ({status}): {detail}"))

    # -- startup check ---------------------------------------------------------------------

    async def probe(self) -> str | None:
        """None when the token works for `account_id`; otherwise one line saying what is
        wrong and how to fix it (for `dmpilot doctor` and startup)."""
        try:
            response = await self._client.get(
                "/me", params={"fields": "user_id,username"}, headers=self._auth
            )
        except httpx.LocalProtocolError as exc:
            return self._scrub(f"Instagram access token unusable in a header: {describe(exc)}")
        except UNBUILDABLE as exc:
            return self._scrub(
                f"cannot reach the Instagram Graph API at {self.graph_url}: {describe(exc)}"
            )
        status = response.status_code
        error = GraphError.read(response)
        detail = _detail(response)
        if status in (401, 403) or (error is not None and _classify(error) is _Verdict.TOKEN):
            return self._scrub(
                f"Instagram refused the access token ({status}): {detail}; generate a new "
                "token in the Meta app dashboard (Instagram → API setup with Instagram "
                "business login → Generate token) and set DMPILOT_META_ACCESS_TOKEN"
            )
        payload = json_body(response)
        if not response.is_success or not isinstance(payload, dict):
            return self._scrub(f"Instagram account check failed ({status}): {detail}")
        # user_id is the professional account's id, the one the Send API and webhooks use;
        # `id` is app-scoped, the only id older answers carried.
        owner = _str(payload.get("user_id")) or _str(payload.get("id"))
        if owner == self.account_id:
            return None
        username = _str(payload.get("username"))
        who = f"{owner} (@{username})" if username else owner or "an unnamed account"
        return self._scrub(
            f"the access token belongs to Instagram account {who}, but "
            f"DMPILOT_META_ACCOUNT_ID is {self.account_id}; set it to {owner or '?'} "
            "or use the token of the account it names"
        )

    def _scrub(self, text: str) -> str:
        # Error texts are logged and stored: never let the token in (see http_send.scrub).
        return scrub(text, self._secret_forms)


def _classify(error: GraphError) -> _Verdict | None:
    """What Meta's code says about the DM; None when it says nothing we can rely on."""
    code, subcode = error.code, error.subcode
    if code is None:
        return None
    if code in _TOKEN_CODES:
        return _Verdict.TOKEN
    if code in _RATE_LIMIT_CODES:
        return _Verdict.RATE_LIMIT
    if code == 10 and (subcode in _WINDOW_SUBCODES or _WINDOW_TEXT in error.message.lower()):
        return _Verdict.WINDOW
    if code in _RECIPIENT_CODES or (code, subcode) in _RECIPIENT_PAIRS:
        return _Verdict.RECIPIENT
    if code in _ACCOUNT_CODES:
        return _Verdict.ACCOUNT
    if code in _SEND_FAILURE_CODES:
        return _Verdict.SEND_FAILURE
    if code in _UNEXPLAINED_CODES:
        return _Verdict.UNEXPLAINED
    return None


def _message_id(response: httpx.Response) -> str | None:
    payload = json_body(response)
    if not isinstance(payload, dict) or "error" in payload:
        return None
    value = payload.get("message_id")
    return value if isinstance(value, str) and value else None


def _detail(response: httpx.Response) -> str:
    error = GraphError.read(response)
    return error.describe() if error is not None else body_start(response)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _str(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    return str(value).strip() if isinstance(value, str | int) else ""
