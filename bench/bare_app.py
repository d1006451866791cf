"""The baseline: a bare FastAPI endpoint that parses the same JSON body and answers flat JSON."""

from typing import Any

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/webhooks/manychat")
async def webhook(request: Request) -> dict[str, Any]:
    payload = await request.json()
    text = payload.get("last_input_text") or ""
    return {
        "should_send": True,
        "response": text[:20],
        "stage": "cold",
        "should_stop": False,
        "delay_seconds": 0,
        "reason": None,
    }
