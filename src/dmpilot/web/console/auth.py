"""Signing in and out, and the dependencies that keep every page, fragment and form
behind a session (and every form behind its CSRF token)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dmpilot.web.console import params
from dmpilot.web.console.flash import Flash, flash_of, flash_url
from dmpilot.web.console.session import (
    COOKIE_NAME,
    COOKIE_PATH,
    CSRF_FIELD,
    Session,
    Sessions,
    password_matches,
)
from dmpilot.web.console.views import ConsoleError, SignInRequired, redirect, render
from dmpilot.web.deps import system_of

router = APIRouter(prefix="/console", include_in_schema=False)  # pages, not the API
MAX_PASSWORD = 1000
SIGN_IN = "/console/sign-in"


def sessions_for(request: Request) -> Sessions | None:
    """None when no console secret is configured: then nobody can sign in."""
    secret = system_of(request).settings.console_secret
    return Sessions(secret) if secret else None


def current_session(request: Request) -> Session | None:
    sessions = sessions_for(request)
    if sessions is None:
        return None
    return sessions.check(request.cookies.get(COOKIE_NAME), system_of(request).clock.now())


async def page_session(request: Request) -> Session:
    session = current_session(request)
    if session is None:
        query = request.url.query
        raise SignInRequired(
            fragment=False, next_path=request.url.path + (f"?{query}" if query else "")
        )
    return session


async def fragment_session(request: Request) -> Session:
    session = current_session(request)
    if session is None:
        raise SignInRequired(fragment=True)
    return session


async def form_session(request: Request) -> Session:
    """A state-changing POST: no session sends the operator to sign in (nothing is done)."""
    session = current_session(request)
    if session is None:
        raise SignInRequired(fragment=False)
    return session


PageSession = Annotated[Session, Depends(page_session)]
FragmentSession = Annotated[Session, Depends(fragment_session)]
FormSession = Annotated[Session, Depends(form_session)]


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form's fields, once its CSRF token matches the session's."""
    fields = await params.read_form(request)
    if not Sessions.csrf_matches(session, fields.get(CSRF_FIELD)):
        raise ConsoleError(
            403,
            "this form has no valid security token (CSRF): reload the page and try again",
        )
    return fields


def _sign_in_page(
    request: Request, *, status: int = 200, error: str | None = None, next_path: str = ""
) -> HTMLResponse:
    available = sessions_for(request) is not None
    return render(
        request,
        "sign_in.html",
        session=None,
        status=status if available else 503,
        title="Sign in",
        available=available,
        error=error,
        next_path=next_path,
        flash=flash_of(request),
    )


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    next_path = params.safe_next(params.query_value(request, "next"))
    if current_session(request) is not None:
        return redirect(next_path)
    return _sign_in_page(request, next_path=next_path)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    # No CSRF token here: there is no session yet to derive it from. SameSite=Strict on
    # the cookie it sets means no other site can ride on the result.
    fields = await params.read_form(request)
    next_path = params.safe_next(fields.get("next"))
    sessions = sessions_for(request)
    if sessions is None:
        return _sign_in_page(request, next_path=next_path)
    password = fields.get("password", "")
    secret = system_of(request).settings.console_secret or ""
    if len(password) > MAX_PASSWORD or not password_matches(password, secret):
        return _sign_in_page(
            request, status=401, error="That password is not right.", next_path=next_path
        )
    system = system_of(request)
    hours = system.settings.console_session_hours
    _session, cookie = sessions.issue(system.clock.now(), hours)
    response = redirect(next_path)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(hours * 3600),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        # Behind a TLS proxy uvicorn's proxy headers make the scheme https.
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: FormSession) -> Response:
    await checked_form(request, session)
    response = redirect(flash_url(SIGN_IN, Flash.SIGNED_OUT))
    response.delete_cookie(
        COOKIE_NAME,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def sign_in_location(next_path: str | None) -> str:
    if not next_path:
        return SIGN_IN
    return f"{SIGN_IN}?{urlencode({'next': params.safe_next(next_path)})}"
