"""Bearer-token authentication for webhooks and admin calls."""

from __future__ import annotations

import ipaddress
import secrets

from fastapi import Request

from dmpilot.web.errors import ApiError


def require_token(request: Request) -> None:
    expected: str | None = request.app.state.settings.token
    if expected is None:
        return  # no token configured: the server only listens on loopback (see `serve`)
    header = request.headers.get("authorization", "")
    scheme, _, supplied = header.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        supplied.strip().encode(), expected.encode()
    ):
        raise ApiError(
            401,
            "missing or wrong bearer token",
            ["send the header Authorization: Bearer <DMPILOT_WEBHOOK_TOKEN>"],
            headers={"WWW-Authenticate": "Bearer"},
        )


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
