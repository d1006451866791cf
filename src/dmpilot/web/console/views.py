"""Rendering: the Jinja environment (autoescaping on), the headers every console response
carries, and the console's own errors as HTML pages."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from dmpilot import __version__
from dmpilot.web.console.session import Session

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Pages may only load what the package ships: no CDN, no inline script, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show conversations: never kept by a shared cache or the back-button cache.
    "Cache-Control": "no-store",
}


class ConsoleError(Exception):
    """A request the console refuses, shown as a page: what went wrong and what to do."""

    def __init__(
        self, status: int, message: str, *, back: str | None = None, title: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.back = back
        self.title = title


class SignInRequired(Exception):
    """No valid session: a page is redirected to the sign-in, a fragment gets a 401."""

    def __init__(self, *, fragment: bool, next_path: str | None = None) -> None:
        super().__init__("sign in first")
        self.fragment = fragment
        self.next_path = next_path


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "—"


def _short_when(moment: datetime | None) -> str:
    return f"{moment:%b %d, %H:%M}" if moment is not None else "—"


def _iso(moment: datetime | date) -> str:
    return moment.isoformat()


def _usd(amount: float) -> str:
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"


def _number(value: int) -> str:
    return f"{value:,}"


def _build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Every template is HTML: a contact named <script> is text, never markup.
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a missing value is a bug to see in tests, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, short_when=_short_when, iso=_iso, usd=_usd, number=_number)
    env.globals.update(version=__version__)
    return env


ENVIRONMENT = _build_environment()


def render_text(template: str, **context: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**context)


def render(
    request: Request,
    template: str,
    *,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("flash", None)
    context.setdefault("section", None)
    body = render_text(
        template,
        session=session,
        csrf=session.csrf if session else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


def error_page(request: Request, error: ConsoleError, session: Session | None) -> Response:
    return render(
        request,
        "error.html",
        session=session,
        status=error.status,
        title=error.title or _TITLES.get(error.status, "Something is wrong"),
        message=error.message,
        back=error.back,
    )


_TITLES = {
    400: "That request is not valid",
    403: "Not allowed",
    404: "Not found",
    409: "That cannot be done",
    413: "Too large",
    415: "Unsupported form",
    503: "The database is not answering",
}
