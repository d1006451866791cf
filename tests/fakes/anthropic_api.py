"""A fake Anthropic Messages API (POST /v1/messages) on loopback, scriptable per test.

Speaks the wire format the official SDK expects: message objects with usage (including
prompt-cache tokens), and error bodies {"type": "error", "error": {...}} with the
vendor's status codes (429 rate_limit_error, 500 api_error, 529 overloaded_error).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes.lines import ENGLISH, FRENCH
from support import free_port

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Behaviour:
    """What the next call does: answer `text`, fail with `status`, and/or wait `delay`."""

    text: str | None = None
    status: int | None = None
    delay: float = 0.0


@dataclass
class FakeAnthropic:
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "distinct"  # distinct|same|near|url|human|pushy|slow|status:<code>
    link: str = "https://example.com/lena-presets"
    url: str = ""  # set once the fake is served
    _counter: itertools.count = field(default_factory=itertools.count)
    _cached: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, *behaviours: Behaviour) -> None:
        self.script.extend(behaviours)

    def reset(self, mode: str = "distinct") -> None:
        with self._lock:
            self.script.clear()
            self.requests.clear()
            self.mode = mode
            self._counter = itertools.count()

    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            if self.script:
                return self.script.popleft()
            n = next(self._counter)
            system = " ".join(block.get("text", "") for block in body.get("system", []))
            lines = FRENCH if "Answer in French" in system else ENGLISH
            mode = self.mode
        if mode == "same":
            return Behaviour("haha where are you writing from?")
        if mode == "near":
            return Behaviour(
                [
                    "where are you writing from?",
                    "so where are you writing from?",
                    "where are you writing from??",
                ][n % 3]
            )
        if mode == "url":
            return Behaviour(f"grab my presets at https://cheap-presets.example.net/{n} !")
        if mode == "human":
            return Behaviour("haha no I'm a real person, promise")
        if mode.startswith("status:"):
            return Behaviour(status=int(mode.split(":")[1]))
        if mode == "pushy":  # the link in every draft, until a draft was rejected
            if "previous draft was rejected" in system:
                return Behaviour(lines[n % len(lines)])
            return Behaviour(f"my presets are here {self.link} , {lines[n % len(lines)]}")
        if mode == "slow":
            return Behaviour(lines[n % len(lines)], delay=30)
        return Behaviour(lines[n % len(lines)])

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/messages")
        async def messages(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append({"headers": dict(request.headers), "body": body})
            behaviour = self._next(body)
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            if behaviour.status:
                kind = ERROR_TYPES.get(behaviour.status, "api_error")
                return JSONResponse(
                    {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}},
                    status_code=behaviour.status,
                    headers={"request-id": "req_fake", "retry-after-ms": "20"},
                )
            return JSONResponse(self._message(body, behaviour.text or ""))

        return app

    def _message(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        system = body.get("system", [])
        cached = "".join(
            b["text"] for b in system if isinstance(b, dict) and b.get("cache_control")
        )
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4 + 20
        cache_write = cache_read = 0
        if cached:
            with self._lock:
                if cached in self._cached:
                    cache_read = len(cached) // 4
                else:
                    self._cached.add(cached)
                    cache_write = len(cached) // 4
        return {
            "id": f"msg_fake_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": prompt_tokens,
                "output_tokens": max(1, len(text) // 4),
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
            },
        }


class FakeServer:
    """Runs a fake's app with uvicorn in a thread of the test process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
