"""Regression tests for what an outside attack and a new user found, through real server
processes on both stores: bad input is never a 5xx, both stores behave alike, reading
never blocks writing, and operators see why the bot is silent."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from dmpilot.audit import run_audit
from dmpilot.domain.links import LinkMatcher
from dmpilot.personas import bundled_persona_path, load_persona
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from dmpilot.store.schema import contacts, messages
from fakes.anthropic_api import Behaviour, FakeAnthropic
from support import TOKEN, Server, auth, run_cli, wait_until

S = "\\ud800"  # a lone surrogate, as JSON writes it
BAD_NAME = f"Sam{S}"


def post(client: httpx.Client, body: object) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/webhooks/manychat", content=raw, headers={"content-type": "application/json"}
    )


def raw(body: str) -> bytes:
    """A JSON body written by hand, so escapes like \\ud800 reach the server as sent."""
    return body.encode()


SURROGATE_BODIES = {
    "subscriber id": raw(f'{{"subscriber": {{"id": "s1{S}"}}, "last_input_text": "hi"}}'),
    "name": raw(f'{{"subscriber": {{"id": "s2", "name": "{BAD_NAME}"}}, "last_input_text": "hi"}}'),
    "first and last name": raw(
        f'{{"subscriber": {{"id": "s3", "first_name": "A{S}", "last_name": "{S}B"}}, '
        '"last_input_text": "hi"}'
    ),
    "ig_username": raw(
        f'{{"subscriber": {{"id": "s4", "ig_username": "sam{S}"}}, "last_input_text": "hi"}}'
    ),
    "full contact data": raw(
        f'{{"id": "s5{S}", "name": "{BAD_NAME}", "first_name": "{S}", "ig_username": "{S}x", '
        f'"last_input_text": "hello {S} there", "custom_fields": {{"k{S}": "v{S}"}}}}'
    ),
    "attachment url": raw(
        f'{{"subscriber": {{"id": "s6"}}, "attachment": {{"type": "image", '
        f'"payload": {{"url": "https://cdn.fbsbx.com/x{S}.jpg"}}}}}}'
    ),
    "text": raw(f'{{"subscriber": {{"id": "s7"}}, "last_input_text": "{S}{S} hey \\udfff"}}'),
    "a key": raw(f'{{"subscriber": {{"id": "s8"}}, "last_input_text": "hey", "x{S}": 1}}'),
}


@pytest.fixture
def server(start_server: Callable[..., Server], database_url: str) -> Server:
    return start_server(DMPILOT_DATABASE_URL=database_url)


def test_lone_surrogates_in_any_field_never_break_a_request_or_the_connection(
    server: Server, database_url: str
) -> None:
    with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as client:
        for field, body in SURROGATE_BODIES.items():
            response = post(client, body)
            assert response.status_code == 200, (field, response.text)
        # the keep-alive connection is still good after all of them
        assert (
            post(client, {"subscriber": {"id": "s9"}, "last_input_text": "hi"}).status_code == 200
        )
        converted = client.post(
            "/admin/contacts/converted",
            content=raw(f'{{"subscriber_id": "nobody{S}"}}'),
            headers={"content-type": "application/json"},
        )
        # A reference is never cleaned into another one: broken text in it is refused.
        assert converted.status_code == 422 and "broken text" in converted.json()["error"]
    store = Store.open(database_url, pool_size=1, run_migrations=False)
    try:
        with store.reading() as reads:
            names = dict(reads.db.execute(sa.select(contacts.c.external_id, contacts.c.name)).all())
    finally:
        store.close()
    assert names["s2"] == "Sam" and names["s3"] == "A B" and "s1" in names


def test_long_names_and_nul_bytes_are_stored_alike_on_both_stores(
    server: Server, database_url: str
) -> None:
    body = {
        "subscriber": {"id": "long", "name": "N" * 500, "ig_username": "u" * 300},
        "last_input_text": "hello\u0000 there",
    }
    nul_name = {"subscriber": {"id": "nul\u0000id", "name": "Sa\u0000m"}, "last_input_text": "hi"}
    with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as client:
        first = post(client, body)
        again = post(client, body)  # stored the first time, so this is a duplicate, not a 503
        nul = post(client, nul_name)
    assert first.status_code == 200 and first.json()["should_send"] is True
    assert again.json()["reason"] == "duplicate"
    assert nul.status_code == 200
    store = Store.open(database_url, pool_size=1, run_migrations=False)
    try:
        with store.reading() as reads:
            row = reads.db.execute(
                sa.select(contacts.c.name, contacts.c.username).where(
                    contacts.c.external_id == "long"
                )
            ).one()
            texts = reads.db.scalars(
                sa.select(messages.c.text).where(messages.c.direction == "in")
            ).all()
            ids = reads.db.scalars(sa.select(contacts.c.external_id)).all()
    finally:
        store.close()
    assert (len(row.name), len(row.username)) == (200, 100)
    assert "hello there" in texts and "nulid" in ids


def test_unfilled_manychat_variables_are_refused_with_the_fix(server: Server) -> None:
    with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as client:
        for body in (
            {"subscriber": {"id": "{{user_id}}"}, "last_input_text": "hi"},
            {"id": "{{contact.id}}", "last_input_text": "hi"},
            {"subscriber": {"id": "42"}, "last_input_text": "{{last_input_text}}"},
        ):
            response = post(client, body)
            assert response.status_code == 422, body
            assert "misconfigured" in response.json()["error"]
            assert "variable" in " ".join(response.json()["problems"])
        # an unfilled name is simply no name
        named = post(client, {"subscriber": {"id": "43", "name": "{{full_name}}"}, "text": "hi"})
        assert named.status_code == 200


def test_the_api_docs_are_off_unless_asked_for_and_then_behind_the_token(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    default = start_server(DMPILOT_DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{default.url}{path}").status_code == 404
    docs = start_server(
        DMPILOT_DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}", DMPILOT_API_DOCS="true"
    )
    assert httpx.get(f"{docs.url}/openapi.json").status_code == 401
    spec = httpx.get(f"{docs.url}/openapi.json", headers=auth())
    assert spec.status_code == 200 and "/webhooks/manychat" in spec.json()["paths"]
    page = httpx.get(f"{docs.url}/docs", params={"token": TOKEN})
    assert page.status_code == 200 and f"token={TOKEN}" in page.text


def test_a_webhook_is_answered_while_an_audit_reads(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """The audit holds its read transaction open while a webhook writes; were it holding
    the write lock, the webhook would wait for it, and it waits for the webhook."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    server = start_server(DMPILOT_DATABASE_URL=url)
    answered: list[int] = []

    def during_audit(step: str) -> None:
        if answered:
            return
        response = httpx.post(
            f"{server.url}/webhooks/manychat",
            json={"subscriber": {"id": "during"}, "last_input_text": f"hi while {step}"},
            headers=auth(),
            timeout=30,
        )
        answered.append(response.status_code)

    persona = load_persona()
    store = Store.open(url, pool_size=1)
    try:
        with store.reading() as reads:
            reads.db.execute(sa.select(sa.func.count()).select_from(messages)).one()
            run_audit(
                reads,
                persona,
                utcnow(),
                links=LinkMatcher.for_link(str(persona.link.url)),
                progress=during_audit,
            )
    finally:
        store.close()
    assert answered == [200]


def test_a_wrong_model_key_refuses_to_start_in_one_line(
    tmp_path: Path, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.api_key = "sk-right"
    try:
        result = run_cli(
            ["serve", "--port", "8997"],
            {
                "DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
                "ANTHROPIC_API_KEY": "sk-wrong",
                "ANTHROPIC_BASE_URL": anthropic_fake.url,
            },
            tmp_path,
        )
    finally:
        anthropic_fake.api_key = None
    assert result.returncode == 1
    assert "refused the API key" in result.stderr and "sk-wrong" not in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_model_warns_and_starts(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = start_server(
        DMPILOT_DATABASE_URL=f"sqlite:///{tmp_path / 'u.db'}",
        DMPILOT_LOG_LEVEL="info",
        ANTHROPIC_API_KEY="sk-test",
        ANTHROPIC_BASE_URL="http://127.0.0.1:9",
        DMPILOT_REPLY_BUDGET_SECONDS="2",
    )
    assert "not reachable" in server.log_text()
    reply = httpx.post(
        f"{server.url}/webhooks/manychat",
        json={"subscriber": {"id": "777"}, "last_input_text": "hello"},
        headers=auth(),
        timeout=30,
    ).json()
    assert reply["should_send"] is False and reply["reason"] == "error"
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    failures = [line for line in lines if line["message"] == "the brain failed"]
    assert failures and failures[0]["level"] == "error"
    assert "APIConnectionError" in failures[0]["error"] and "sk-test" not in server.log_text()
    decisions = [line for line in lines if line["message"] == "decision"]
    assert decisions and decisions[0]["subscriber"] == "777"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "bundled example persona"),
        ({"DMPILOT_PERSONA": "{persona}"}, "scripted brain"),
    ],
)
def test_a_public_address_needs_a_real_persona_and_brain_or_demo(
    tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    persona = tmp_path / "mine.yaml"
    persona.write_text(bundled_persona_path().read_text(encoding="utf-8"), encoding="utf-8")
    env = {key: value.format(persona=persona) for key, value in env.items()}
    env |= {"DMPILOT_WEBHOOK_TOKEN": TOKEN, "DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    refused = run_cli(["serve", "--host", "0.0.0.0", "--port", "8996"], env, tmp_path)
    assert refused.returncode == 2 and needle in refused.stderr and "--demo" in refused.stderr


def test_secrets_never_show(tmp_path: Path) -> None:
    url = "postgresql://dmpilot:hunter2-secret@127.0.0.1:1/none"
    status = run_cli(["status"], {"DMPILOT_DATABASE_URL": url}, tmp_path)
    assert status.returncode == 1 and "hunter2" not in status.stdout + status.stderr
    assert "dmpilot:***@127.0.0.1:1/none" in status.stderr


def test_an_unsupported_database_says_which_are(tmp_path: Path) -> None:
    result = run_cli(["status"], {"DMPILOT_DATABASE_URL": "mysql://u@h/db"}, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not support 'mysql'" in result.stderr and "postgresql://" in result.stderr


def test_a_read_never_holds_the_write_lock(tmp_path: Path) -> None:
    """A read unit on SQLite begins DEFERRED: another connection may still write."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = Store.open(url, pool_size=2)
    try:
        with store.reading() as reads:
            reads.db.execute(sa.select(sa.func.count()).select_from(contacts)).one()
            done = threading.Event()

            def write() -> None:
                with store.writing() as unit:
                    unit.control.set_paused(True, "x", "t", utcnow())
                done.set()

            thread = threading.Thread(target=write)
            thread.start()
            thread.join(timeout=20)
        assert done.is_set()
    finally:
        store.close()


def test_a_turn_killed_mid_way_is_explained_after_the_restart(
    start_server: Callable[..., Server], anthropic_fake: FakeAnthropic, database_url: str
) -> None:
    """kill -9 while the model is writing: the next server start records `interrupted`."""
    anthropic_fake.queue(Behaviour(text="this reply never leaves", delay=30))
    brain = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": anthropic_fake.url}
    short = {"DMPILOT_DEDUP_WINDOW_SECONDS": "1", "DMPILOT_LEASE_SECONDS": "1"}
    first = start_server(
        DMPILOT_DATABASE_URL=database_url, DMPILOT_REPLY_BUDGET_SECONDS="2", **brain, **short
    )
    calls = len(anthropic_fake.requests)
    body = {"subscriber": {"id": "killed-mid-turn"}, "last_input_text": "hello, anyone?"}

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{first.url}/webhooks/manychat", json=body, headers=auth(), timeout=10)

    sender = threading.Thread(target=send)
    sender.start()
    wait_until(lambda: len(anthropic_fake.requests) > calls, 10, "the model call")
    assert first.process is not None
    first.process.kill()  # kill -9: the turn dies between the model and the decision
    sender.join()

    def reasons() -> list[str]:
        store = Store.open(database_url, pool_size=1, run_migrations=False)
        try:
            with store.reading() as reads:
                return list(reads.db.scalars(sa.text("SELECT reason FROM events")))
        finally:
            store.close()

    assert reasons() == []  # stored, never decided
    # Past the lease the dead turn held and the window a retry could use: 2 + 1 + 1 s.
    time.sleep(4.5)
    start_server(DMPILOT_DATABASE_URL=database_url, DMPILOT_REPLY_BUDGET_SECONDS="1", **short)
    wait_until(lambda: reasons() == ["interrupted"], 20, "the interrupted turn explained")
