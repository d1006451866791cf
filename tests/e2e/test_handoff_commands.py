"""Handoff and the other actions on one contact, from the real `dmpilot` command line and
the admin HTTP API: everything the console does is scriptable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dmpilot.bootstrap import bootstrap
from dmpilot.domain.delivery import DeliveryMode
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from dmpilot.web.app import create_app
from support import (
    FakeClock,
    cli_stdout,
    engine_config,
    query_sqlite,
    receive_all,
    run_cli,
    seeded_sqlite,
    settings_for,
    text_inbound,
)

KEY_ENV = {"DMPILOT_MANYCHAT_API_KEY": "1234567:cli-test-key"}


def _seed(store: Store, clock: FakeClock) -> None:
    """Three contacts written through the engine: an active one, a minor, an opt-out."""
    receive_all(
        store,
        clock,
        text_inbound("cli-1", "hey! love your photos", clock.current),
        text_inbound("cli-2", "hi, im 15", clock.current),
        text_inbound("cli-3", "stop messaging me", clock.current),
    )


@pytest.fixture
def database(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    url = seeded_sqlite(tmp_path / "cli.db", lambda store: _seed(store, FakeClock(utcnow())))
    return tmp_path, {"DMPILOT_DATABASE_URL": url, **KEY_ENV}


def _refused(args: list[str], env: dict[str, str], cwd: Path, fragment: str) -> None:
    result = run_cli(args, env, cwd)
    assert result.returncode == 1, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and fragment in result.stderr, result.stderr


def test_the_cli_takes_over_writes_hands_back_stops_and_resets(
    database: tuple[Path, dict[str, str]],
) -> None:
    cwd, env = database
    db = cwd / "cli.db"
    assert "handed off" in cli_stdout(["handoff", "cli-1"], env, cwd)
    assert "already with" in cli_stdout(["handoff", "cli-1"], env, cwd)
    assert "queued" in cli_stdout(
        ["say", "cli-1", "hi, Alex from the team", "--key", "k1"], env, cwd
    )
    assert "already queued" in cli_stdout(["say", "cli-1", "hi again", "--key", "k1"], env, cwd)
    rows = query_sqlite(db, "select kind, author, text from messages where kind = 'human'")
    assert (
        len(rows) == 1 and rows[0][1].startswith("cli:") and rows[0][2] == "hi, Alex from the team"
    )
    assert query_sqlite(db, "select state from deliveries where kind = 'human'") == [("pending",)]
    assert "handed back" in cli_stdout(["handback", "cli-1"], env, cwd)
    assert "was not handed off" in cli_stdout(["handback", "cli-1"], env, cwd)
    assert "stopped" in cli_stdout(["stop", "cli-1"], env, cwd)
    # The person's message had not gone out yet: the stop withdrew it.
    assert query_sqlite(db, "select state from deliveries where kind = 'human'") == [("cancelled",)]
    _refused(["say", "cli-1", "still there?"], env, cwd, "stopped")
    assert "starts the funnel over" in cli_stdout(["reset", "cli-1"], env, cwd)
    assert "not stopped" in cli_stdout(["reset", "cli-1"], env, cwd)
    kinds = query_sqlite(
        db,
        "select kind, reason from events where kind in ('handoff','handback','stopped','reset') "
        "and contact_id = (select id from contacts where external_id = 'cli-1') order by id",
    )
    assert kinds == [
        ("handoff", "operator"),
        ("handback", "operator"),
        ("stopped", "operator"),
        ("reset", "operator"),
    ]


def test_the_cli_never_resets_a_minor_or_an_opt_out(
    database: tuple[Path, dict[str, str]],
) -> None:
    cwd, env = database
    _refused(["reset", "cli-2"], env, cwd, "under 18")
    _refused(["reset", "cli-3"], env, cwd, "asked to stop")
    _refused(["handoff", "cli-2"], env, cwd, "stopped")
    _refused(["say", "cli-1", "   "], env, cwd, "empty")
    inline = {k: v for k, v in env.items() if k not in KEY_ENV}
    _refused(["say", "cli-1", "hello"], inline, cwd, "DMPILOT_MANYCHAT_API_KEY")
    missing = run_cli(["handoff", "@nobody"], env, cwd)
    assert missing.returncode == 1 and "no contact" in missing.stderr


@pytest.fixture
def admin_app(store: Store, database_url: str) -> Iterator[tuple[FastAPI, FakeClock]]:
    clock = FakeClock(utcnow())
    _seed(store, clock)
    system = bootstrap(
        settings_for(database_url),
        store=store,
        clock=clock,
        config=engine_config(delivery=DeliveryMode.PUSH),
    )
    yield create_app(system=system), clock


def _post(app: FastAPI, path: str, body: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dmpilot") as client:
            return await client.post(
                path,
                content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                headers={"content-type": "application/json"},
            )

    return asyncio.run(go())


def test_the_admin_api_does_what_the_console_does(
    admin_app: tuple[FastAPI, FakeClock],
) -> None:
    app, _ = admin_app
    taken = _post(app, "/admin/contacts/handoff", {"contact": "cli-1"})
    assert taken.status_code == 200, taken.text
    assert taken.json()["outcome"] == "done" and taken.json()["contact"]["status"] == "handoff"
    said = _post(app, "/admin/contacts/say", {"contact": "cli-1", "text": "hello!", "key": "a"})
    assert said.status_code == 200 and said.json()["delivery_id"] is not None
    again = _post(app, "/admin/contacts/say", {"contact": "cli-1", "text": "hello!", "key": "a"})
    assert again.json()["outcome"] == "duplicate" and again.json()["delivery_id"] is None
    back = _post(app, "/admin/contacts/handback", {"contact": "cli-1"})
    assert back.json()["contact"]["status"] == "active"
    assert _post(app, "/admin/contacts/stop", {"contact": "cli-1"}).json()["outcome"] == "done"
    assert _post(app, "/admin/contacts/reset", {"contact": "cli-1"}).json()["outcome"] == "done"


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/admin/contacts/reset", {"contact": "cli-2"}, 409, "under 18"),
        ("/admin/contacts/reset", {"contact": "cli-3"}, 409, "asked to stop"),
        ("/admin/contacts/handoff", {"contact": "@nobody"}, 404, "no contact"),
        ("/admin/contacts/handoff", {"contact": "id:" + "9" * 400}, 422, "out of range"),
        ("/admin/contacts/handoff", {"who": "cli-1"}, 422, "contact"),
        ("/admin/contacts/say", {"contact": "cli-1", "text": "\x00\ud800"}, 409, "empty"),
        ("/admin/contacts/say", {"contact": "cli-1", "text": "x" * 12_000}, 422, "text"),
        ("/admin/contacts/say", {"contact": "cli-1", "text": "hi", "key": "a b"}, 409, "key"),
        ("/admin/contacts/stop", b"{not json", 400, "JSON"),
    ],
)
def test_the_admin_api_refuses_with_a_reason_never_a_500(
    admin_app: tuple[FastAPI, FakeClock], path: str, body: Any, status: int, fragment: str
) -> None:
    app, _ = admin_app
    response = _post(app, path, body)
    assert response.status_code == status, response.text
    assert fragment in response.text
