"""The operator console at /console: server-rendered pages behind a signed session
cookie, a little plain JavaScript for the live timeline, assets shipped in the package."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from dmpilot.web.console import actions, auth, pages
from dmpilot.web.console.auth import PageSession, current_session, sign_in_location
from dmpilot.web.console.views import (
    SECURITY_HEADERS,
    STATIC,
    ConsoleError,
    SignInRequired,
    error_page,
    redirect,
)

STATIC_PATH = "/console/static"


def install(app: FastAPI) -> None:
    """Mount the console on `app`: assets, routers, and its own HTML error pages."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="console-static")
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(actions.router)

    # Last: any other /console address is a 404 page, behind the sign-in like the rest.
    @app.get("/console/{rest:path}", include_in_schema=False)
    async def unknown(request: Request, rest: str, _session: PageSession) -> Response:
        raise ConsoleError(404, f"there is no console page /console/{rest[:80]}")

    @app.exception_handler(ConsoleError)
    async def _console_error(request: Request, exc: ConsoleError) -> Response:
        return error_page(request, exc, current_session(request))

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if exc.fragment:
            return PlainTextResponse(
                "sign in again: the session has ended", status_code=401, headers=SECURITY_HEADERS
            )
        return redirect(sign_in_location(exc.next_path))
