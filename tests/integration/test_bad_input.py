"""Any JSON value in any field of either ManyChat body shape gets a 200 or a 4xx, never a
5xx — on SQLite and on PostgreSQL, through the whole app and store."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmpilot.bootstrap import bootstrap
from dmpilot.store import Store
from dmpilot.web.app import create_app
from support import FakeClock, engine_config, settings_for

# Any code point, with lone surrogates and NUL drawn often (json.dumps escapes them as
# \\udXXX). Built from a list: st.text() leaves surrogates out whatever the alphabet.
TEXT = st.lists(
    st.characters() | st.sampled_from(["\ud800", "\udfff", "\x00", "{"]), max_size=300
).map("".join)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
    | st.text(max_size=5000),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)

SHAPES: dict[str, tuple[dict[str, Any], list[tuple[str, ...]]]] = {
    "subscriber object": (
        {
            "subscriber": {"id": "9001", "name": "Sam", "ig_username": "sam"},
            "last_input_text": "hey there",
        },
        [
            ("subscriber",),
            ("subscriber", "id"),
            ("subscriber", "name"),
            ("subscriber", "first_name"),
            ("subscriber", "last_name"),
            ("subscriber", "ig_username"),
            ("last_input_text",),
            ("text",),
            ("message",),
            ("message", "text"),
            ("last_message",),
            ("story_reply",),
            ("story_reply", "text"),
            ("story_mention",),
            ("attachment",),
            ("attachment", "type"),
            ("attachment", "payload"),
            ("attachment", "payload", "url"),
        ],
    ),
    "full contact data": (
        {
            "id": "9002",
            "key": "user:9002",
            "name": "Sam Doe",
            "first_name": "Sam",
            "last_name": "Doe",
            "ig_username": "sam",
            "last_input_text": "hello!",
            "custom_fields": {"dm_reply": ""},
        },
        [
            ("id",),
            ("name",),
            ("first_name",),
            ("last_name",),
            ("ig_username",),
            ("last_input_text",),
            ("custom_fields",),
            ("profile_pic",),
            ("attachment",),
        ],
    ),
}


def _set(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    node: Any = body
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return body


@pytest.fixture
def app(store: Store, database_url: str) -> Iterator[FastAPI]:
    config = engine_config(daily_new_conversations=1_000_000)
    system = bootstrap(settings_for(database_url), store=store, clock=FakeClock(), config=config)
    yield create_app(system=system)


def _post(app: FastAPI, path: str, content: bytes) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dmpilot") as client:
            return await client.post(
                path, content=content, headers={"content-type": "application/json"}
            )

    return asyncio.run(go())


@pytest.mark.parametrize("shape", sorted(SHAPES))
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_value_in_any_field_is_never_a_server_error(
    app: FastAPI, shape: str, data: st.DataObject
) -> None:
    base, paths = SHAPES[shape]
    path = data.draw(st.sampled_from(paths), label="field")
    # Strings most often: they are what reaches the database.
    value = data.draw(TEXT | TEXT | JSON, label="value")
    body = json.dumps(_set(base, path, value)).encode()
    response = _post(app, "/webhooks/manychat", body)
    assert response.status_code < 500, (path, value, response.text)
    if response.status_code == 200:
        assert set(response.json()) >= {"should_send", "response", "reason"}
    else:
        assert response.json()["error"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=JSON)
def test_any_converted_reference_is_never_a_server_error(app: FastAPI, value: Any) -> None:
    response = _post(
        app, "/admin/contacts/converted", json.dumps({"subscriber_id": value}).encode()
    )
    assert response.status_code in (200, 404, 422), (value, response.text)


@pytest.mark.parametrize("path", ["forget", "stop", "handoff", "handback", "reset", "converted"])
@pytest.mark.parametrize("spoiled", ["90\u000001", "9\ud80001", "9001\ud800", "90\x0101"])
def test_a_reference_with_broken_text_is_refused_never_cleaned_into_another(
    app: FastAPI, path: str, spoiled: str
) -> None:
    # Contact 9001 exists. Removing the NUL, the surrogate or the control character from
    # the reference would name it: an action that cannot be undone must refuse instead.
    body = {"subscriber": {"id": "9001", "name": "Sam"}, "last_input_text": "hey there"}
    assert _post(app, "/webhooks/manychat", json.dumps(body).encode()).status_code == 200
    field = "subscriber_id" if path == "converted" else "contact"
    response = _post(app, f"/admin/contacts/{path}", json.dumps({field: spoiled}).encode())
    assert response.status_code == 422, response.text
    assert "control characters or broken text" in response.json()["error"]
    export = asyncio.run(_get(app, "/admin/contacts/export?contact=9001"))
    assert export.status_code == 200
    assert export.json()["contact"]["stop_reason"] is None  # untouched


@pytest.mark.parametrize("reason", ["\u0000", "\ud800\u0000"])
def test_a_pause_reason_of_nothing_but_broken_text_is_refused(app: FastAPI, reason: str) -> None:
    response = _post(app, "/admin/pause", json.dumps({"reason": reason}).encode())
    assert response.status_code == 422, response.text
    assert "reason" in response.text
    status = asyncio.run(_get(app, "/admin/status"))
    assert status.json()["paused"] is False


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dmpilot") as client:
        return await client.get(path)
