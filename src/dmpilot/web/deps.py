"""FastAPI dependencies: the wired system, and the bearer token."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from dmpilot.bootstrap import System
from dmpilot.web.errors import ApiError


async def get_system(request: Request) -> System:
    """Async, like every dependency here: a plain `def` would cost a threadpool hop."""
    return system_of(request)


def system_of(request: Request) -> System:
    system: System = request.app.state.system
    return system


SystemDep = Annotated[System, Depends(get_system)]


def _matches(supplied: str, expected: str) -> bool:
    return secrets.compare_digest(supplied.strip().encode("utf-8", "replace"), expected.encode())


async def require_token(request: Request) -> None:
    """Bearer token for webhooks and admin calls. Async, so it costs no threadpool hop."""
    expected = system_of(request).settings.token
    if expected is None:
        return  # no token configured: the server only listens on loopback (see `serve`)
    header = request.headers.get("authorization", "")
    scheme, _, supplied = header.partition(" ")
    if scheme.lower() != "bearer" or not _matches(supplied, expected):
        raise ApiError(
            401,
            "missing or wrong bearer token",
            ["send the header Authorization: Bearer <DMPILOT_WEBHOOK_TOKEN>"],
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = [Depends(require_token)]


async def require_docs_token(request: Request) -> None:
    """The docs pages: the bearer header, or ?token= from a browser's address bar."""
    expected = system_of(request).settings.token
    supplied = request.query_params.get("token")
    if expected is not None and supplied is not None and _matches(supplied, expected):
        return
    await require_token(request)


DocsAuthorized = [Depends(require_docs_token)]
