"""The HTTP surface: ManyChat webhook, health, kill switch."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from dmpilot import __version__, metrics
from dmpilot.brains import build_brain
from dmpilot.channels import PayloadError, manychat
from dmpilot.domain.language import load_models
from dmpilot.engine import Engine, EngineConfig, utcnow
from dmpilot.personas import load_persona
from dmpilot.settings import Settings
from dmpilot.store import Store
from dmpilot.web.auth import require_token
from dmpilot.web.errors import ApiError, install_error_handlers, read_json, read_model

log = logging.getLogger("dmpilot.web")


class ConvertedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscriber_id: str | int
    channel: str = "manychat"


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    persona = load_persona(settings.persona)
    load_models()
    store = Store.open(settings.database_url)
    brain = build_brain(settings)
    engine = Engine(store, brain, persona, EngineConfig.from_settings(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        await brain.aclose()
        store.close()

    app = FastAPI(title="dmpilot", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.engine = engine
    install_error_handlers(app)
    authorized = [Depends(require_token)]

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        try:
            state = await to_thread.run_sync(store.control)
        except SQLAlchemyError as exc:
            raise ApiError(503, "the database is not answering", [type(exc).__name__]) from exc
        return {"status": "ok", "paused": state.paused, "brain": brain.name, "version": __version__}

    @app.post("/webhooks/manychat", dependencies=authorized)
    async def manychat_webhook(
        request: Request,
        format: Annotated[Literal["flat", "dynamic"], Query()] = "flat",
    ) -> dict[str, Any]:
        payload = await read_json(request, settings.max_body_bytes)
        try:
            inbound = manychat.parse(payload, utcnow())
        except PayloadError as exc:
            raise ApiError(422, "the ManyChat body is not usable", exc.problems) from exc
        started = time.monotonic()
        try:
            decision = await engine.handle(inbound)
        except SQLAlchemyError as exc:
            # The message could not even be stored: say so, so ManyChat can retry it.
            log.exception("could not store an inbound message")
            raise ApiError(
                503, "the database is not answering; the message was not stored"
            ) from exc
        outcome = decision.reason.value if decision.reason else decision.action.value
        metrics.WEBHOOKS.labels(outcome=outcome).inc()
        metrics.TURN_SECONDS.observe(time.monotonic() - started)
        if format == "dynamic":
            return manychat.render_dynamic(decision)
        return manychat.render_flat(decision)

    @app.post("/admin/pause", dependencies=authorized)
    async def pause(request: Request) -> dict[str, Any]:
        body = await read_model(request, PauseRequest, 'send {"reason": "why you are pausing"}')
        state = await to_thread.run_sync(store.set_paused, True, body.reason, "http", utcnow())
        return {"paused": state.paused, "reason": state.reason}

    @app.post("/admin/resume", dependencies=authorized)
    async def resume() -> dict[str, Any]:
        state = await to_thread.run_sync(store.set_paused, False, None, "http", utcnow())
        return {"paused": state.paused, "reason": state.reason}

    @app.post("/admin/contacts/converted", dependencies=authorized)
    async def converted(request: Request) -> dict[str, Any]:
        payload = await read_json(request, 16 * 1024)
        try:
            body = ConvertedRequest.model_validate(payload)
        except ValueError as exc:
            raise ApiError(
                422, 'send {"subscriber_id": "<ManyChat subscriber id>"}', [str(exc)]
            ) from exc
        external_id = str(body.subscriber_id).strip()
        found = await to_thread.run_sync(
            store.mark_converted, body.channel, external_id, utcnow(), "http"
        )
        if not found:
            raise ApiError(404, f"no contact {external_id!r} on channel {body.channel!r}")
        return {"converted": True, "subscriber_id": external_id}

    @app.get("/l/{token}", include_in_schema=False)
    async def tracked_link(token: str, request: Request) -> RedirectResponse:
        # Public: Instagram users follow it. Unknown tokens still reach the link.
        if len(token) <= 24:
            await to_thread.run_sync(
                store.record_click, token, utcnow(), request.headers.get("user-agent")
            )
        return RedirectResponse(str(persona.link.url), status_code=302)

    @app.get("/metrics", dependencies=authorized)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/admin/status", dependencies=authorized)
    async def status() -> dict[str, Any]:
        state = await to_thread.run_sync(store.control)
        return {
            "paused": state.paused,
            "reason": state.reason,
            "changed_at": state.changed_at.isoformat() if state.changed_at else None,
            "brain": brain.name,
            "persona": persona.name,
        }

    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from the environment."""
    return create_app(Settings())
