"""One error shape for every endpoint: {"error": what went wrong, "problems": [details]}."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from dmpilot.domain.inbound import scrub

log = logging.getLogger("dmpilot.web")
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        problems: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = headers


def error_response(
    status: int,
    message: str,
    problems: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status, headers=headers)


WEBHOOK_BODY = (
    "a ManyChat webhook body is a few KB",
    "send only the subscriber and the message fields, or raise DMPILOT_MAX_BODY_BYTES",
)
ADMIN_BODY = (
    "an admin request body is a small JSON object",
    "send only the fields the endpoint documents",
)


async def read_json(
    request: Request,
    limit: int,
    expected: tuple[str, str] = WEBHOOK_BODY,
    *,
    clean: bool = True,
) -> Any:
    """The request body as JSON, refusing oversized or malformed bodies with a clear 4xx.

    `expected` says what a body of this endpoint normally is and how to fix an oversized
    one, so an admin call is not told about ManyChat. `clean=False` keeps every string as
    sent, for a model that refuses what it cannot use (a contact reference is never
    silently changed into another one).
    """
    return decode_json(await read_body(request, limit, expected), clean=clean)


async def read_body(request: Request, limit: int, expected: tuple[str, str]) -> bytes:
    """The raw request body (a signature covers these exact bytes), at most `limit` long."""
    declared = request.headers.get("content-length")
    what, fix = expected
    too_large = ApiError(413, f"the body is larger than {limit} bytes; {what}", [fix])
    # Length first: a header of thousands of digits must not reach int().
    if declared and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
    except ClientDisconnect as exc:  # nobody is left to answer; nothing was stored
        raise ApiError(400, "the client disconnected before sending the whole body") from exc
    if not body.strip():
        raise ApiError(400, "the body is empty; send a JSON object")
    return bytes(body)


def decode_json(body: bytes, *, clean: bool = True) -> Any:
    """JSON from a body, every string scrubbed (domain.inbound.scrub) unless `clean` is
    False; a clear 400 if it is not JSON."""
    try:
        decoded = json.loads(body)
        return scrub(decoded) if clean else decoded
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not valid UTF-8 JSON: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"the body is not usable JSON: {exc}") from exc


async def read_model(request: Request, model: type[M], hint: str, limit: int = 16 * 1024) -> M:
    """A small admin body, validated into `model`; `hint` says what a good body looks like.
    Strings arrive as sent: the model's fields refuse or scrub (`CleanText`) what they
    cannot store."""
    payload = await read_json(request, limit, ADMIN_BODY, clean=False)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ApiError(422, hint, problems) from exc


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.problems, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        return error_response(422, "the request is not valid", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; the details are in the server log")
