"""A fake OpenAI-compatible chat completions API (as Ollama, vLLM and llama.cpp serve it)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class FakeOpenAI:
    replies: deque[str | int] = field(default_factory=deque)  # text, or an HTTP status
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append({"headers": dict(request.headers), "body": body})
            reply = self.replies.popleft() if self.replies else "what do you like to photograph?"
            if isinstance(reply, int):
                return JSONResponse(
                    {"error": {"message": "fake failure", "type": "server_error", "code": None}},
                    status_code=reply,
                )
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": 1_790_000_000,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51},
                }
            )

        return app
