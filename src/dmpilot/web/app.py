"""The HTTP app: routers per area over one wired system (bootstrap.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from dmpilot import __version__
from dmpilot.bootstrap import System, bootstrap
from dmpilot.domain.commands import RecoverInterrupted
from dmpilot.domain.language import load_models
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.settings import Settings
from dmpilot.store.database import pool_capacity
from dmpilot.web import admin, console, instagram, manychat, ops
from dmpilot.web.deps import DocsAuthorized
from dmpilot.web.errors import install_error_handlers

log = logging.getLogger("dmpilot.web")
RECOVERY_INTERVAL_SECONDS = 300.0


def create_app(settings: Settings | None = None, *, system: System | None = None) -> FastAPI:
    system = system or bootstrap(settings)
    settings = system.settings
    # Fail at start, not at the first message: persona, database, language models.
    _ = system.persona, system.store
    load_models()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Store work runs in threads, each holding a pooled connection: more threads than
        # connections only queue for one, and contend for the GIL while they wait.
        to_thread.current_default_thread_limiter().total_tokens = pool_capacity(settings.pool_size)
        if settings.runs_worker:
            system.worker.start()
        elif system.chores:  # inline delivery: nothing to send, but alerts still run
            system.worker.start(chores_only=True)
        recovery = asyncio.create_task(_recover_interrupted(system))
        try:
            yield
        finally:
            recovery.cancel()
            await asyncio.gather(recovery, return_exceptions=True)
            await system.aclose()

    # The interactive docs would describe every route to anyone: off unless asked for,
    # and then behind the token.
    app = FastAPI(
        title="dmpilot",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.system = system
    install_error_handlers(app)
    app.include_router(manychat.router)
    app.include_router(instagram.router)
    app.include_router(admin.router)
    app.include_router(ops.router)
    console.install(app)
    if settings.api_docs:
        _install_docs(app)
    return app


async def _recover_interrupted(system: System) -> None:
    """At start and then now and again: explain messages whose process died mid-turn
    (a kill -9 of an inline server), here or in another process on the same database."""
    while True:
        try:
            await system.engine.handle(RecoverInterrupted())
        except StoreUnavailable as exc:
            log.warning("could not look for interrupted turns: %s", exc)
        # Real time: a cadence of housekeeping, not a moment in a conversation.
        await asyncio.sleep(RECOVERY_INTERVAL_SECONDS)


def _install_docs(app: FastAPI) -> None:
    """The docs behind the token. A browser cannot send a bearer header, so these three
    pages also take it as ?token=, and the page passes it on to the spec it loads."""

    @app.get("/openapi.json", dependencies=DocsAuthorized, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=DocsAuthorized, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=_spec_url(request), title="dmpilot")

    @app.get("/redoc", dependencies=DocsAuthorized, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url=_spec_url(request), title="dmpilot")


def _spec_url(request: Request) -> str:
    token = request.query_params.get("token")
    return f"/openapi.json?{urlencode({'token': token})}" if token else "/openapi.json"


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-worker serving: settings from the environment."""
    return create_app(Settings())
