"""Health, Prometheus metrics and tracked links."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from dmpilot import __version__, metrics
from dmpilot.domain.commands import RecordClick
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.web.deps import Authorized, SystemDep
from dmpilot.web.errors import ApiError

router = APIRouter()


@router.get("/healthz")
async def healthz(system: SystemDep) -> dict[str, Any]:
    try:
        state = await system.read(lambda reads: reads.control())
    except StoreUnavailable as exc:
        raise ApiError(503, "the database is not answering", [str(exc)]) from exc
    return {
        "status": "ok",
        "paused": state.paused,
        "brain": system.brain.name,
        "delivery": system.config.delivery.value,
        "version": __version__,
    }


@router.get("/metrics", dependencies=Authorized)
async def prometheus(system: SystemDep) -> Response:
    now = system.clock.now()
    try:
        counts, oldest = await system.read(
            lambda reads: (reads.delivery_counts(), reads.oldest_pending_delivery())
        )
    except StoreUnavailable:
        counts, oldest = None, None
    queue = metrics.outbox_gauges(counts, (now - oldest).total_seconds() if oldest else 0.0)
    body, content_type = metrics.render()
    return Response(body + queue, media_type=content_type)


@router.get("/l/{token}", include_in_schema=False)
async def tracked_link(token: str, request: Request, system: SystemDep) -> RedirectResponse:
    # Public: Instagram users follow it. Unknown tokens still reach the link.
    if len(token) <= 24:
        # If the database is away the click is lost; the visitor still gets the link.
        with contextlib.suppress(StoreUnavailable):
            await system.engine.handle(RecordClick(token, request.headers.get("user-agent")))
    return RedirectResponse(str(system.persona.link.url), status_code=302)
