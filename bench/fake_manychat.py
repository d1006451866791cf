"""A fake ManyChat Public API for the push-delivery benchmark: sendContent, counted.

    python bench/fake_manychat.py [--port 8900] [--latency-ms 50] [--api-key KEY]

`POST /fb/sending/sendContent` checks what the real API checks for an Instagram text
(the bearer key, an integer `subscriber_id`, a v2 `instagram` content with messages),
waits the configured latency (ManyChat's own answer time) and answers
`{"status": "success", "data": {}}`; anything else gets ManyChat's error shape and is
counted as rejected. `GET /count` says how many sends it accepted, how many it refused,
how many distinct subscribers it saw and how many sends repeated one already made (the
same text to the same subscriber: a duplicate DM); `?prefix=123` adds `matching`, the
sends to subscriber ids that start with those digits (one benchmark run's contacts).
`GET /fb/page/getInfo` answers the startup key check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
LATENCY_SECONDS = float(os.environ.get("FAKE_MANYCHAT_LATENCY_MS", "50")) / 1000
API_KEY = os.environ.get("FAKE_MANYCHAT_API_KEY", "")

sent = 0
rejected = 0
subscribers: Counter[int] = Counter()
seen: set[tuple[int, str]] = set()
duplicates = 0
last_error: str | None = None


def _error(status: int, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    global rejected, last_error
    rejected += 1
    last_error = message
    body: dict[str, Any] = {"status": "error", "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def _authorized(request: Request) -> bool:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(key) and (not API_KEY or key == API_KEY)


def _texts(body: dict[str, Any]) -> list[str] | None:
    """The texts of a v2 Instagram content, or None if the content is not one."""
    data = body.get("data")
    if not isinstance(data, dict) or data.get("version") != "v2":
        return None
    content = data.get("content")
    if not isinstance(content, dict) or content.get("type") != "instagram":
        return None
    messages = content.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    texts = []
    for message in messages:
        if not isinstance(message, dict) or message.get("type") != "text":
            return None
        text = message.get("text")
        if not isinstance(text, str) or not text:
            return None
        texts.append(text)
    return texts


@app.post("/fb/sending/sendContent")
async def send_content(request: Request) -> JSONResponse:
    global sent, duplicates
    if not _authorized(request):
        return _error(401, "Wrong format token")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "Invalid JSON")
    subscriber = body.get("subscriber_id") if isinstance(body, dict) else None
    if not isinstance(subscriber, int) or isinstance(subscriber, bool) or subscriber <= 0:
        return _error(
            400,
            "Validation error",
            {"messages": {"subscriber_id": ["The subscriber id must be an integer."]}},
        )
    texts = _texts(body)
    if texts is None:
        return _error(400, "Validation error", {"messages": {"data": ["Invalid content."]}})
    if LATENCY_SECONDS > 0:
        await asyncio.sleep(LATENCY_SECONDS)
    key = (subscriber, "\n".join(texts))
    if key in seen:
        duplicates += 1
    seen.add(key)
    subscribers[subscriber] += 1
    sent += 1
    return JSONResponse({"status": "success", "data": {}})


@app.get("/fb/page/getInfo")
async def page_info(request: Request) -> JSONResponse:
    if not _authorized(request):
        return _error(401, "Wrong format token")
    return JSONResponse({"status": "success", "data": {"id": 1, "name": "bench"}})


@app.get("/count")
async def count(prefix: str = "") -> dict[str, Any]:
    matching = sum(n for s, n in subscribers.items() if str(s).startswith(prefix))
    return {
        "sent": sent,
        "matching": matching,
        "rejected": rejected,
        "subscribers": len(subscribers),
        "duplicates": duplicates,
        "last_error": last_error,
    }


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--api-key", default="", help="the only key accepted (default: any)")
    args = parser.parse_args()
    global LATENCY_SECONDS, API_KEY
    LATENCY_SECONDS, API_KEY = args.latency_ms / 1000, args.api_key
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
