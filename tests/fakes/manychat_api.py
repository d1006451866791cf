"""A fake ManyChat Public API on loopback, scriptable per test.

Speaks ManyChat's wire format: `Authorization: Bearer <page_id>:<secret>`, answers
`{"status": "success", ...}` or `{"status": "error", "message": ..., "details": ...}`.

Every request is recorded (`requests`), and every DM that reached the contact (`sends`), so
tests can assert "sent exactly once" even when the sender could not know. Which behaviours
deliver the DM is part of the script's meaning; see `Behaviour`.

    fake = FakeManyChat()
    with fake.serve():              # sets fake.url
        fake.queue("status:429:3", "timeout", "success")
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from fakes.anthropic_api import FakeServer

SEND_PATH = "/fb/sending/sendContent"
PAGE_INFO_PATH = "/fb/page/getInfo"
DEFAULT_KEY = "1234567:fake-manychat-secret"

# What a behaviour does to the contact: True if the DM went out (even if the answer is lost).
_DELIVERS = {
    "success": True,
    "timeout": True,  # delivered, then the answer never comes: the case a retry would duplicate
    "slow": True,  # delivered at once, answered late
    "not_json": True,  # a 200 from ManyChat's edge: most likely delivered
    "no_status": True,
    "error": False,  # ManyChat refused it
    "status": False,  # refused or never processed
    "drop": False,  # the connection died before ManyChat processed it
}


@dataclass(frozen=True)
class Behaviour:
    """What one accepted sendContent call does.

    success              200 {"status": "success", "data": {}}
    error                200 {"status": "error", "message": ..., "code": ...}
    status:<code>[:<ra>] <code> with a ManyChat error body; <ra> is sent as Retry-After
                         (seconds or an HTTP-date, colons allowed)
    timeout              answers only after `FakeManyChat.hang_seconds` (or a reset)
    slow:<seconds>       answers success after <seconds>
    drop                 closes the connection without answering
    not_json             200 with an HTML body
    no_status            200 JSON without a status
    """

    kind: str
    status: int = 200
    retry_after: str | None = None
    seconds: float = 0.0

    @property
    def delivers(self) -> bool:
        return _DELIVERS[self.kind]

    @classmethod
    def parse(cls, spec: str | Behaviour) -> Behaviour:
        if isinstance(spec, Behaviour):
            return spec
        kind, _, rest = spec.partition(":")
        if kind == "status":
            code, _, retry_after = rest.partition(":")
            return cls("status", status=int(code), retry_after=retry_after or None)
        if kind == "slow":
            return cls("slow", seconds=float(rest))
        if kind not in _DELIVERS or rest:
            raise ValueError(f"unknown ManyChat fake behaviour {spec!r}")
        return cls(kind)


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"status": "error", "message": message, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def _validate(body: Any) -> list[str]:
    """The shape sendContent accepts (subscriber_id, data = Dynamic Block v2 for Instagram)."""
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    problems: list[str] = []
    sid = body.get("subscriber_id")
    if sid is None:
        problems.append("subscriber_id: the subscriber id field is required")
    elif isinstance(sid, bool) or not (
        (isinstance(sid, int) and sid > 0) or (isinstance(sid, str) and sid.isdigit())
    ):
        problems.append("subscriber_id: must be an integer")
    if "message_tag" in body and not isinstance(body["message_tag"], str):
        problems.append("message_tag: must be a string")
    data = body.get("data")
    if not isinstance(data, dict):
        return [*problems, "data: the data field is required and must be an object"]
    if data.get("version") != "v2":
        problems.append("data.version: must be v2")
    content = data.get("content")
    if not isinstance(content, dict):
        return [*problems, "data.content: must be an object"]
    if content.get("type") != "instagram":
        problems.append("data.content.type: must be instagram for this page")
    messages = content.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 10:
        problems.append("data.content.messages: must hold 1 to 10 messages")
    else:
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                problems.append(f"data.content.messages[{i}]: must have a type")
            elif message["type"] == "text" and not (
                isinstance(message.get("text"), str) and message["text"].strip()
            ):
                problems.append(f"data.content.messages[{i}].text: must be a non-empty string")
    for name, limit in (("actions", 5), ("quick_replies", 11)):
        value = content.get(name, [])
        if not isinstance(value, list) or len(value) > limit:
            problems.append(f"data.content.{name}: must be a list of at most {limit}")
    return problems


def _abort_connection(request: Request) -> None:
    """Close the TCP connection under a request, so the client gets no answer at all.

    ASGI has no "drop"; uvicorn's receive is a method of the request cycle, which holds the
    transport. Once aborted, uvicorn marks the cycle disconnected and ignores the response.
    """
    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("the drop behaviour needs the fake to be served by uvicorn")
    transport.abort()


@dataclass
class FakeManyChat:
    api_key: str = DEFAULT_KEY
    mode: str = "success"  # the behaviour of calls the script does not cover
    hang_seconds: float = 30.0  # how long `timeout` withholds its answer
    url: str = ""  # set once the fake is served
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every request, refused too
    sends: list[dict[str, Any]] = field(default_factory=list)  # every DM that went out
    _generation: int = 0  # bumped by reset(): releases handlers still waiting
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting -------------------------------------------------------------------------

    def queue(self, *behaviours: str | Behaviour) -> None:
        parsed = [Behaviour.parse(b) for b in behaviours]  # fail in the test, not the server
        with self._lock:
            self.script.extend(parsed)

    def reset(self, mode: str = "success") -> None:
        Behaviour.parse(mode)
        with self._lock:
            self.script.clear()
            self.requests.clear()
            self.sends.clear()
            self.mode = mode
            self._generation += 1

    # -- assertions ------------------------------------------------------------------------

    def send_requests(self) -> list[dict[str, Any]]:
        """Every sendContent request received, whatever it was answered (or not)."""
        with self._lock:
            return [r for r in self.requests if r["path"] == SEND_PATH]

    def delivered_texts(self, subscriber_id: int | str) -> list[str]:
        with self._lock:
            return [s["text"] for s in self.sends if str(s["subscriber_id"]) == str(subscriber_id)]

    @property
    def page_id(self) -> int:
        prefix = self.api_key.partition(":")[0]
        return int(prefix) if prefix.isdigit() else 1234567

    # -- serving ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(self) -> Iterator[FakeManyChat]:
        with FakeServer(self.app()) as server:
            self.url = server.url
            try:
                yield self
            finally:
                self.reset()  # release hung handlers so uvicorn can shut down at once

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(SEND_PATH)
        async def send_content(request: Request) -> Response:
            body = self._parse(await request.body())
            record = self._record(request, body)
            if not self._authorized(request):
                return _error(401, "Wrong format token")
            problems = _validate(body)
            if problems:
                return _error(400, "Validation error", details={"messages": problems})
            with self._lock:
                behaviour = self.script.popleft() if self.script else Behaviour.parse(self.mode)
                record["behaviour"] = behaviour
                generation = self._generation
                if behaviour.delivers:
                    self.sends.append(self._send_record(body))
            return await self._act(request, behaviour, generation)

        @app.get(PAGE_INFO_PATH)
        async def page_info(request: Request) -> Response:
            self._record(request, None)
            if not self._authorized(request):
                return _error(401, "Wrong format token")
            return JSONResponse(
                {"status": "success", "data": {"id": self.page_id, "name": "Fake page"}}
            )

        return app

    async def _act(self, request: Request, behaviour: Behaviour, generation: int) -> Response:
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
        if kind == "error":
            return _error(200, "Subscriber does not exist", code=2011)
        if kind == "status":
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else None
            return _error(behaviour.status, f"Fake ManyChat error {behaviour.status}", headers)
        if kind == "not_json":
            return PlainTextResponse("<html><body>502 upstream hiccup</body></html>")
        if kind == "no_status":
            return JSONResponse({"data": {}})
        return JSONResponse({"status": "success", "data": {}})

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.api_key}"

    @staticmethod
    def _parse(raw: bytes) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _record(self, request: Request, body: Any) -> dict[str, Any]:
        record = {
            "method": request.method,
            "path": request.url.path,
            "headers": dict(request.headers),
            "body": body,
            "behaviour": None,  # filled in when the call reaches the script
            "at": time.time(),
        }
        with self._lock:
            self.requests.append(record)
        return record

    @staticmethod
    def _send_record(body: dict[str, Any]) -> dict[str, Any]:
        messages = body["data"]["content"]["messages"]
        return {
            "subscriber_id": body["subscriber_id"],
            "text": "\n".join(m["text"] for m in messages if m.get("type") == "text"),
            "messages": messages,
            "message_tag": body.get("message_tag"),
        }
