"""A fake of Meta's Instagram Graph API (graph.instagram.com) on loopback, scriptable per test.

Speaks Meta's wire format: `Authorization: Bearer <token>`, POST /<version>/<IG_ID>/messages
with `{"recipient": {"id"}, "message": {"text"}}` or `{"recipient": {"id"}, "sender_action"}`,
answers `{"recipient_id", "message_id"}` or Meta's error body `{"error": {"message", "type",
"code", "error_subcode", "is_transient", "fbtrace_id"}}`; GET /<version>/me answers the
token's account (`user_id`, `username`, and the app-scoped `id`).

Every request is recorded (`requests`), every DM that reached the contact (`sends`, each with
recipient, text and message_id) and every sender action that took effect (`actions`), so
tests can assert "sent exactly once" even when the sender could not know. Which behaviours
deliver is part of the script's meaning; see `Behaviour`. The script is consumed by every
accepted POST to /messages, sender actions included, in arrival order.

    fake = FakeGraphAPI()
    with fake.serve():              # sets fake.url (with the version) and fake.root
        fake.queue("error:613", "timeout", "success")
        ...

`on_send`, if set, is called with each DM's record as it goes out (in the fake's server
thread, before the answer): the place to post the echo webhook back to dmpilot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from fakes.anthropic_api import FakeServer
from fakes.manychat_api import _abort_connection

DEFAULT_TOKEN = "IGAAfakeInstagramUserAccessToken0123456789abcdef"
DEFAULT_ACCOUNT_ID = "17841400000000001"
API_VERSION = "v25.0"
MAX_TEXT_BYTES = 1000
SENDER_ACTIONS = ("mark_seen", "typing_on", "typing_off")

# What a behaviour does to the contact: True if the DM went out (even if the answer is lost).
_DELIVERS = {
    "success": True,
    "timeout": True,  # delivered, then the answer never comes: the case a retry would duplicate
    "slow": True,  # delivered at once, answered late
    "not_json": True,  # a 200 from Meta's edge: most likely delivered
    "no_id": True,  # a 200 JSON without a message_id
    "error": False,  # Meta refused it with an error code
    "status": False,  # refused or never processed
    "drop": False,  # the connection died before Meta processed it
}

# Meta's words and HTTP status for the codes tests use; anything else gets a generic text.
_CODES: dict[int, tuple[str, int]] = {
    1: ("An unknown error occurred", 500),
    2: ("An unexpected error has occurred. Please retry your request later.", 500),
    3: ("(#3) Application does not have the capability to make this API call.", 403),
    4: ("(#4) Application request limit reached", 400),
    10: ("(#10) Application does not have permission for this action", 403),
    17: ("(#17) User request limit reached", 400),
    32: ("(#32) Page request limit reached", 400),
    100: ("(#100) Invalid parameter", 400),
    102: ("Session key invalid or no longer valid", 400),
    190: ("Invalid OAuth access token - Cannot parse access token", 400),
    200: ("(#200) Permissions error", 403),
    368: ("(#368) The action attempted has been deemed abusive or is otherwise disallowed", 400),
    551: ("(#551) This person isn't available right now.", 400),
    613: ("(#613) Calls to this api have exceeded the rate limit.", 400),
    1200: ("(#1200) Temporary send message failure. Please try again later.", 500),
    80002: ("(#80002) There have been too many calls to this Instagram account.", 400),
}
_SUBCODES: dict[int, str] = {
    2534022: "This message is sent outside of allowed window.",
    2018278: "(#10) This message is sent outside of allowed window.",
    2534014: "(#100) No matching user found",
    2018001: "(#100) No matching user found",
    1545041: "(#200) This person isn't available right now.",
    463: "Error validating access token: Session has expired.",
}
_TRANSIENT = frozenset({1, 2, 4, 17, 32, 613, 1200, 80002})


@dataclass(frozen=True)
class Behaviour:
    """What one accepted POST to /messages does.

    success                              200 {"recipient_id", "message_id"}
    error:<code>[:<subcode>][:<status>]  Meta's error body for that code; the HTTP status
                                         defaults to Meta's for the code (e.g. error:10:2534022
                                         is a 403, error:190::401 a 401 without subcode)
    status:<code>[:<ra>]                 <code> with an error body without a Meta code; <ra> is
                                         sent as Retry-After (seconds or an HTTP-date); a 3xx
                                         also gets a Location
    timeout                              delivers, answers only after `hang_seconds` (or reset)
    slow:<seconds>                       delivers, answers success after <seconds>
    drop                                 closes the connection before processing: not delivered
    not_json                             200 with an HTML body (delivered)
    no_id                                200 JSON without a message_id (delivered)

    Build a Behaviour directly for an error with Meta's words of your choosing (`message`).
    """

    kind: str
    status: int = 200
    code: int | None = None
    subcode: int | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    message: str | None = None

    @property
    def delivers(self) -> bool:
        return _DELIVERS[self.kind]

    @classmethod
    def parse(cls, spec: str | Behaviour) -> Behaviour:
        if isinstance(spec, Behaviour):
            return spec
        kind, _, rest = spec.partition(":")
        if kind == "error":
            code, _, tail = rest.partition(":")
            subcode, _, status = tail.partition(":")
            number = int(code)
            return cls(
                "error",
                status=int(status) if status else _CODES.get(number, ("", 400))[1],
                code=number,
                subcode=int(subcode) if subcode else None,
            )
        if kind == "status":
            code, _, retry_after = rest.partition(":")
            return cls("status", status=int(code), retry_after=retry_after or None)
        if kind == "slow":
            return cls("slow", seconds=float(rest))
        if kind not in _DELIVERS or rest:
            raise ValueError(f"unknown Graph API fake behaviour {spec!r}")
        return cls(kind)


def meta_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Meta's error body, as graph.instagram.com sends it."""
    error: dict[str, Any] = {
        "message": message,
        "type": type_ or ("OAuthException" if code in (102, 190) else "IGApiException"),
        "code": code,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = code in _TRANSIENT
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _validate(body: Any) -> str | None:
    """Why the Send API would refuse this body (as Meta's #100 message), or None."""
    if not isinstance(body, dict):
        return "(#100) The parameter recipient is required"
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str):
        return "(#100) The parameter recipient is required"
    if not recipient["id"].strip():
        return "(#100) Param recipient[id] must be a non-empty string"
    has_message, has_action = "message" in body, "sender_action" in body
    if has_message and has_action:
        return "(#100) Cannot send both message and state at the same time."
    if has_action:
        if body["sender_action"] not in SENDER_ACTIONS:
            return f"(#100) Param sender_action must be one of {list(SENDER_ACTIONS)}"
        return None
    message = body.get("message")
    if not isinstance(message, dict):
        return "(#100) The parameter message is required"
    text = message.get("text")
    if not isinstance(text, str) or not text.strip():
        return "(#100) Param message[text] must be a non-empty UTF-8 encoded string"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        return f"(#100) Length of param message[text] must be at most {MAX_TEXT_BYTES} bytes"
    return None


@dataclass
class FakeGraphAPI:
    access_token: str = DEFAULT_TOKEN
    account_id: str = DEFAULT_ACCOUNT_ID
    username: str = "fake.creator"
    app_scoped_id: str = "26000000000000001"  # the `id` /me answers, unlike user_id
    version: str = API_VERSION
    mode: str = "success"  # the behaviour of calls the script does not cover
    hang_seconds: float = 30.0  # how long `timeout` withholds its answer
    # Called with each DM's record as it goes out; kept across reset() (configuration).
    on_send: Callable[[dict[str, Any]], None] | None = None
    root: str = ""  # set once served: http://127.0.0.1:<port>
    url: str = ""  # set once served: the graph URL a sender is given, <root>/<version>
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request, refused too
    sends: list[dict[str, Any]] = field(default_factory=list)  # every DM that went out
    actions: list[dict[str, Any]] = field(default_factory=list)  # sender actions shown
    _generation: int = 0  # bumped by reset(): releases handlers still waiting
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting -------------------------------------------------------------------------

    def queue(self, *behaviours: str | Behaviour) -> None:
        parsed = [Behaviour.parse(b) for b in behaviours]  # fail in the test, not the server
        with self._lock:
            self.script.extend(parsed)

    def reset(self, mode: str = "success") -> None:
        """Forget the script and everything recorded; keeps tokens, ids and `on_send`."""
        Behaviour.parse(mode)
        with self._lock:
            self.script.clear()
            self.requests.clear()
            self.sends.clear()
            self.actions.clear()
            self.mode = mode
            self._generation += 1

    # -- assertions ------------------------------------------------------------------------

    def message_requests(self) -> list[dict[str, Any]]:
        """Every POST to /messages received (DMs and sender actions), however answered."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "POST"]

    def delivered_texts(self, recipient: str) -> list[str]:
        with self._lock:
            return [s["text"] for s in self.sends if s["recipient"] == recipient]

    def sender_actions(self, recipient: str) -> list[str]:
        """The sender actions that took effect for `recipient`, in order."""
        with self._lock:
            return [a["action"] for a in self.actions if a["recipient"] == recipient]

    def calls(self, recipient: str) -> list[str]:
        """What each POST for `recipient` asked for ("mark_seen", "typing_on", "message"),
        in arrival order, whatever it was answered."""
        with self._lock:
            return [
                r["kind"]
                for r in self.requests
                if r["method"] == "POST" and _recipient(r["body"]) == recipient
            ]

    # -- serving ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self) -> Iterator[FakeGraphAPI]:
        with FakeServer(self.app()) as server:
            self.root = server.url
            self.url = f"{server.url}/{self.version}"
            try:
                yield self
            finally:
                self.reset()  # release hung handlers so uvicorn can shut down at once

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{version}/{node}/messages")
        async def messages(version: str, node: str, request: Request) -> Response:
            body = _parse(await request.body())
            record = self._record(request, body)
            if version != self.version:
                return PlainTextResponse("Not Found", status_code=404)
            refused = self._refuse_token(request)
            if refused is not None:
                return refused
            if node not in (self.account_id, "me"):
                return meta_error(
                    400,
                    100,
                    f"Unsupported post request. Object with ID '{node}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this "
                    "operation.",
                    subcode=33,
                )
            problem = _validate(body)
            if problem is not None:
                return meta_error(400, 100, problem)
            with self._lock:
                behaviour = self.script.popleft() if self.script else Behaviour.parse(self.mode)
                record["behaviour"] = behaviour
                generation = self._generation
                sent = self._take_effect(body) if behaviour.delivers else None
            if sent is not None and "message_id" in sent and self.on_send is not None:
                self.on_send(dict(sent))  # a DM, not a sender action; a copy to keep
            return await self._act(request, behaviour, generation, body, sent)

        @app.get("/{version}/me")
        async def me(version: str, request: Request) -> Response:
            self._record(request, None)
            if version != self.version:
                return PlainTextResponse("Not Found", status_code=404)
            refused = self._refuse_token(request)
            if refused is not None:
                return refused
            fields = request.query_params.get("fields", "").split(",")
            answer = {"user_id": self.account_id, "username": self.username}
            payload = {k: v for k, v in answer.items() if k in fields}
            return JSONResponse({**payload, "id": self.app_scoped_id})

        return app

    async def _act(
        self,
        request: Request,
        behaviour: Behaviour,
        generation: int,
        body: dict[str, Any],
        sent: dict[str, Any] | None,
    ) -> Response:
        kind = behaviour.kind
        if kind == "drop":
            _abort_connection(request)
            await asyncio.sleep(0.05)  # let uvicorn see the connection go
            return Response(status_code=500)  # never reaches the client
        if kind in ("timeout", "slow"):
            wait = self.hang_seconds if kind == "timeout" else behaviour.seconds
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self._generation == generation:
                await asyncio.sleep(0.02)
        if kind == "error" and behaviour.code is not None:
            code, subcode = behaviour.code, behaviour.subcode
            message = (
                behaviour.message or _SUBCODES.get(subcode or 0) or _CODES.get(code, ("", 400))[0]
            )
            return meta_error(
                behaviour.status,
                code,
                message or f"(#{code}) Fake Graph API error",
                subcode=subcode,
            )
        if kind == "status":
            return self._status(behaviour)
        if kind == "not_json":
            return PlainTextResponse("<html><body>Sorry, something went wrong.</body></html>")
        recipient = body["recipient"]["id"]
        if kind == "no_id" or sent is None or "message_id" not in sent:
            return JSONResponse({"recipient_id": recipient})
        return JSONResponse({"recipient_id": recipient, "message_id": sent["message_id"]})

    @staticmethod
    def _status(behaviour: Behaviour) -> Response:
        headers: dict[str, str] = {}
        if behaviour.retry_after:
            headers["Retry-After"] = behaviour.retry_after
        if 300 <= behaviour.status < 400:
            headers["Location"] = "/elsewhere"
        body = {"error": {"message": f"Fake Graph API status {behaviour.status}"}}
        return JSONResponse(body, status_code=behaviour.status, headers=headers)

    def _refuse_token(self, request: Request) -> Response | None:
        """Meta's answer to a missing or wrong token: 400, OAuthException code 190."""
        supplied = request.headers.get("authorization")
        if supplied is None:
            message = "An active access token must be used to query the current user."
            return meta_error(400, 190, message)
        if supplied != f"Bearer {self.access_token}":
            return meta_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        return None

    def _take_effect(self, body: dict[str, Any]) -> dict[str, Any]:
        """Record what the contact now sees; called under the lock."""
        recipient = body["recipient"]["id"]
        if "sender_action" in body:
            action = {"recipient": recipient, "action": body["sender_action"], "at": time.time()}
            self.actions.append(action)
            return action
        send = {
            "sender": self.account_id,
            "recipient": recipient,
            "text": body["message"]["text"],
            "message_id": self._message_id(),
            "at": time.time(),
        }
        self.sends.append(send)
        return send

    def _message_id(self) -> str:
        # Meta's ids are base64 of "ig_message_item:1:IGMessageID:..." ("aWdf..."); unique.
        raw = f"ig_message_item:1:IGMessageID:{self.account_id}:{next(self._counter)}:"
        raw += uuid.uuid4().hex
        return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")

    def _record(self, request: Request, body: Any) -> dict[str, Any]:
        record = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": dict(request.headers),
            "body": body,
            "kind": _kind(body) if request.method == "POST" else None,
            "behaviour": None,  # filled in when the call reaches the script
            "at": time.time(),
        }
        with self._lock:
            self.requests.append(record)
        return record


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _kind(body: Any) -> str:
    if isinstance(body, dict):
        if isinstance(body.get("sender_action"), str):
            return str(body["sender_action"])
        if "message" in body:
            return "message"
    return "invalid"


def _recipient(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("recipient"), dict):
        recipient = body["recipient"].get("id")
        return recipient if isinstance(recipient, str) else None
    return None
