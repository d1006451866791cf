"""The ManyChat External Request webhook."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from dmpilot import metrics
from dmpilot.channels import PayloadError, manychat
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.web.deps import Authorized, SystemDep
from dmpilot.web.errors import ApiError, read_json

router = APIRouter()


@router.post("/webhooks/manychat", dependencies=Authorized)
async def manychat_webhook(
    request: Request,
    system: SystemDep,
    format: Annotated[Literal["flat", "dynamic"], Query()] = "flat",
) -> dict[str, Any]:
    payload = await read_json(request, system.settings.max_body_bytes)
    try:
        inbound = manychat.parse(payload, system.clock.now())
    except PayloadError as exc:
        raise ApiError(422, exc.headline, exc.problems) from exc
    started = time.monotonic()
    try:
        decision = await system.engine.handle(ReceiveMessage(inbound))
    except StoreUnavailable as exc:
        # Nothing was stored: say so, so ManyChat may retry it.
        raise ApiError(
            503,
            "the database is not answering; the message was not stored, a retry is safe",
            [str(exc)],
        ) from exc
    outcome = decision.reason.value if decision.reason else decision.action.value
    metrics.WEBHOOKS.labels(outcome=outcome).inc()
    metrics.TURN_SECONDS.observe(time.monotonic() - started)
    if format == "dynamic":
        return manychat.render_dynamic(decision)
    return manychat.render_flat(decision)
