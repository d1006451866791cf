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

from fakes.lines import ENGLISH, FRENCH, GOODBYES, STATEMENTS
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
    probes: list[str] = field(default_factory=list)  # model lookups (the startup probe)
    mode: str = "distinct"  # distinct|same|near|url|human|pushy|slow|compliant|status:<code>
    link: str = "https://example.com/lena-presets"
    url: str = ""  # set once the fake is served
    # The key the fake accepts; None accepts any (most tests don't care about keys).
    api_key: str | None = None
    models: tuple[str, ...] = ("claude-haiku-4-5", "claude-haiku-5-5", "claude-sonnet-4-5")
    _counter: itertools.count[int] = field(default_factory=itertools.count)
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
            return Behaviour(lines[n % len(lines)], delay=6)
        if mode == "compliant":  # follows the turn instructions like a good model
            return Behaviour(self._compliant(system, n, lines))
        return Behaviour(lines[n % len(lines)])

    def _compliant(self, system: str, n: int, lines: list[str]) -> str:
        if "write the goodbye" in system:
            if "previous draft was rejected" in system:  # write another one
                return GOODBYES[1 + n % (len(GOODBYES) - 1)]
            return GOODBYES[n % len(GOODBYES)]
        text = lines[n % len(lines)]
        if "this time write a statement" in system:
            text = STATEMENTS[n % len(STATEMENTS)]
        if "must include the link" in system:
            text = f"{text.rstrip('?')} — my presets are here: {self.link}"
        return text

    def _refused(self, request: Request) -> JSONResponse | None:
        """Anthropic's 401 for a wrong key (the SDK sends it as x-api-key or a bearer)."""
        if self.api_key is None:
            return None
        supplied = request.headers.get("x-api-key") or request.headers.get(
            "authorization", ""
        ).removeprefix("Bearer ")
        if supplied == self.api_key:
            return None
        return JSONResponse(
            {
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            },
            status_code=401,
        )

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models/{model_id}")
        async def model(model_id: str, request: Request) -> JSONResponse:
            self.probes.append(model_id)
            refused = self._refused(request)
            if refused is not None:
                return refused
            if model_id not in self.models:
                return JSONResponse(
                    {
                        "type": "error",
                        "error": {"type": "not_found_error", "message": f"model: {model_id}"},
                    },
                    status_code=404,
                )
            return JSONResponse(
                {
                    "type": "model",
                    "id": model_id,
                    "display_name": model_id,
                    "created_at": "2025-10-01T00:00:00Z",
                }
            )

        @app.post("/v1/messages")
        async def messages(request: Request) -> JSONResponse:
            refused = self._refused(request)
            if refused is not None:
                return refused
            body = await request.json()
            invalid = _invalid_for_model(body)
            if invalid is not None:
                return JSONResponse(
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": invalid},
                    },
                    status_code=400,
                )
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


def _invalid_for_model(body: dict[str, Any]) -> str | None:
    """Claude Haiku 5.5 dropped sampling parameters and assistant prefill."""
    if not str(body.get("model", "")).startswith("claude-haiku-5-5"):
        return None
    for name in ("temperature", "top_p", "top_k"):
        if name in body:
            return f"{name}: not supported by this model"
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "assistant":
        return "assistant message prefill is not supported by this model"
    return None


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
