"""A contact's data through the real `dmpilot` command line, the real server and the real
worker, on SQLite and PostgreSQL: export it, forget it (and it stays stopped when it writes
again), and old texts blanked by the worker's retention chore without moving `stats` or
the audit. Bad references get one line and a non-zero exit, or a 4xx — never a traceback
or a 500."""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from dmpilot.audit.synthetic import generate
from dmpilot.personas import load_persona
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from dmpilot.store.database import create_db_engine
from support import (
    TOKEN,
    FakeClock,
    Server,
    WorkerProcess,
    auth,
    cli_stdout,
    post_message,
    query_database,
    receive_all,
    run_cli,
    seeded_sqlite,
    text_inbound,
    wait_until,
)

SECRET = "my name is Mirabelle and I live in Trondheim"
MIRA = "sub-mira-9001"  # nothing random (a salt, a digest) can spell it by chance
OTHER = "hello from somebody else entirely"


@pytest.fixture
def database(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    clock = FakeClock(utcnow())
    messages = text_inbound("cli-9", SECRET), text_inbound("cli-8", OTHER)
    url = seeded_sqlite(tmp_path / "privacy.db", lambda store: receive_all(store, clock, *messages))
    return tmp_path, {"DMPILOT_DATABASE_URL": url}


def anywhere(url: str, needle: str) -> list[str]:
    """`table.column` of every value in the database that contains `needle`."""
    engine = create_db_engine(url, pool_size=1)
    found = []
    try:
        with engine.connect() as db:
            meta = sa.MetaData()
            meta.reflect(db)
            for table in meta.sorted_tables:
                for row in db.execute(sa.select(table)).mappings():
                    found += [
                        f"{table.name}.{column}"
                        for column, value in row.items()
                        if value is not None and needle.casefold() in str(value).casefold()
                    ]
    finally:
        engine.dispose()
    return found


def _refused(args: list[str], env: dict[str, str], cwd: Path, code: int, fragment: str) -> None:
    result = run_cli(args, env, cwd, timeout=30)
    assert result.returncode == code, (args, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert fragment in lines[0], lines[0]


# -- the command line ------------------------------------------------------------------


def test_export_and_forget_from_the_command_line(database: tuple[Path, dict[str, str]]) -> None:
    cwd, env = database
    url = env["DMPILOT_DATABASE_URL"]
    document = json.loads(cli_stdout(["export", "cli-9"], env, cwd))
    texts = [row["text"] for row in document["tables"]["messages"]]
    assert SECRET in texts and OTHER not in json.dumps(document)
    assert document["contact"]["external_id"] == "cli-9"
    assert {row["kind"] for row in document["tables"]["contact_facts"]} == {"name", "city"}

    saved = cwd / "cli-9.json"
    saved.write_text("an older export")
    saved.chmod(0o644)
    assert "to " + str(saved) in cli_stdout(["export", "cli-9", "--output", str(saved)], env, cwd)
    assert json.loads(saved.read_text())["tables"] == document["tables"]
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # a person's messages: owner only

    # Not without a confirmation, and nothing changes.
    _refused(["forget", "cli-9"], env, cwd, 2, "--yes")
    assert anywhere(url, "Mirabelle")
    out = cli_stdout(["forget", "cli-9", "--yes"], env, cwd)
    assert "forgotten" in out and "cli-9" not in out and "Mirabelle" not in out
    for needle in ("Mirabelle", "Trondheim", "cli-9"):
        assert anywhere(url, needle) == [], needle
    assert anywhere(url, OTHER)  # the other contact keeps everything
    # Its references are gone with it; its row id still names the shell.
    _refused(["forget", "cli-9", "--yes"], env, cwd, 1, "no contact")
    _refused(["export", "cli-9"], env, cwd, 1, "no contact")
    [(shell_id,)] = query_database(
        url, "select id from contacts where external_id like 'forgotten:%'"
    )
    assert "already forgotten" in cli_stdout(["forget", f"id:{shell_id}", "--yes"], env, cwd)
    _refused(["reset", f"id:{shell_id}"], env, cwd, 1, "erased")  # stopped for good
    shell = json.loads(cli_stdout(["export", f"id:{shell_id}"], env, cwd))
    assert shell["contact"]["stop_reason"] == "forgotten"
    assert [row["text"] for row in shell["tables"]["messages"] if row["direction"] == "in"] == [""]
    # `stats` and `audit` still run, and still count the forgotten conversation.
    figures = json.loads(cli_stdout(["stats", "--json"], env, cwd))
    assert json.dumps(figures)
    assert json.loads(cli_stdout(["audit", "--json"], env, cwd))["messages"] >= 2


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("\udcff\udcfe", "not valid UTF-8"),  # bytes that are not UTF-8: lone surrogates
        ("\x1b[2J", "control characters"),
        ("x" * 100_000, "at most 128 characters"),
        ("id:" + "9" * 400, "out of range"),
        ("@", "needs a username"),
        ("   ", "give a contact"),
        ("@nobody-at-all", "no contact"),
    ],
)
@pytest.mark.parametrize("command", [["export"], ["forget", "--yes"]])
def test_a_bad_reference_is_one_line_and_a_non_zero_exit(
    database: tuple[Path, dict[str, str]], command: list[str], reference: str, fragment: str
) -> None:
    cwd, env = database
    code = 1 if fragment == "no contact" else 2
    _refused([*command, reference], env, cwd, code, fragment)
    assert anywhere(env["DMPILOT_DATABASE_URL"], "Mirabelle")  # nothing was forgotten


def test_an_export_it_cannot_write_says_so(database: tuple[Path, dict[str, str]]) -> None:
    cwd, env = database
    _refused(["export", "cli-9", "--output", str(cwd)], env, cwd, 1, "cannot write")
    _refused(
        ["export", "cli-9", "-o", str(cwd / "missing" / "x.json")], env, cwd, 1, "cannot write"
    )


# -- the server --------------------------------------------------------------------------


def test_the_server_exports_and_forgets_and_the_contact_stays_stopped(
    start_server: Callable[..., Server], database_url: str
) -> None:
    server = start_server(DMPILOT_DATABASE_URL=database_url)
    profile = {"name": "Mirabelle Oddvar", "ig_username": "mira_oddvar"}
    first = post_message(server, MIRA, SECRET, **profile)
    assert first["should_send"], first
    other = post_message(server, "9002", OTHER)
    reply = [first["response"]] if first["response"] != other["response"] else []
    client = httpx.Client(base_url=server.url, headers=auth(), timeout=60)

    exported = client.get("/admin/contacts/export", params={"contact": "@mira_oddvar"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"].startswith("attachment")
    document = exported.json()
    assert SECRET in [row["text"] for row in document["tables"]["messages"]]
    assert document["tables"]["deliveries"]  # the reply, sent in the webhook's response

    forgotten = client.post("/admin/contacts/forget", json={"contact": MIRA})
    assert forgotten.status_code == 200, forgotten.text
    body = forgotten.json()
    assert body["outcome"] == "done" and body["contact"]["stop_reason"] == "forgotten"
    assert body["scrubbed"]["messages"] >= 2 and body["scrubbed"]["contact_facts"] == 2
    for needle in ("Mirabelle", "Oddvar", "mira_oddvar", "Trondheim", MIRA, *reply):
        assert anywhere(database_url, needle) == [], needle
    assert client.get("/admin/contacts/export", params={"contact": MIRA}).status_code == 404

    # It writes again: a new contact, stopped from its first message, never answered.
    again = post_message(server, MIRA, "hey it's me again, what's the link?", **profile)
    assert (again["should_send"], again["reason"], again["stage"]) == (False, "stopped", "stopped")
    assert query_database(
        database_url, "select stop_reason from contacts where external_id = 'sub-mira-9001'"
    ) == [("forgotten",)]
    shell = body["contact"]["id"]
    already = client.post("/admin/contacts/forget", json={"contact": f"id:{shell}"})
    assert already.status_code == 200 and already.json()["outcome"] == "already"


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "fragment"),
    [
        ("GET", "/admin/contacts/export", {}, 422, "contact"),
        ("GET", "/admin/contacts/export", {"contact": "a\x00b"}, 422, "control characters"),
        ("GET", "/admin/contacts/export", {"contact": "x" * 5000}, 422, ""),
        ("GET", "/admin/contacts/export", {"contact": "id:" + "9" * 200}, 422, ""),
        ("GET", "/admin/contacts/export", {"contact": "@nobody"}, 404, "no contact"),
        ("POST", "/admin/contacts/forget", b'{"contact": "\\ud800\\u0000"}', 422, "broken text"),
        ("POST", "/admin/contacts/forget", {"contact": "id:" + "9" * 400}, 422, "out of range"),
        ("POST", "/admin/contacts/forget", {"contact": "x" * 400}, 422, "at most 128"),
        ("POST", "/admin/contacts/forget", {"contact": 10**30}, 404, "no contact"),
        ("POST", "/admin/contacts/forget", {"who": MIRA}, 422, "contact"),
        ("POST", "/admin/contacts/forget", b"{not json", 400, "JSON"),
    ],
)
def test_the_admin_api_refuses_bad_input_with_a_4xx(
    shared: tuple[Server, str],
    method: str,
    path: str,
    payload: Any,
    status: int,
    fragment: str,
) -> None:
    server, url = shared
    if method == "GET":
        response = httpx.get(f"{server.url}{path}", params=payload, headers=auth(), timeout=30)
    else:
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response = httpx.post(
            f"{server.url}{path}",
            content=content,
            headers={**auth(), "content-type": "application/json"},
            timeout=30,
        )
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert "Traceback" not in response.text
    unauthorised = httpx.post(f"{server.url}/admin/contacts/forget", json={"contact": MIRA})
    assert unauthorised.status_code == 401
    assert anywhere(url, "Mirabelle")  # nothing was forgotten


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """One server for the module's bad-input cases, with one contact."""
    workdir = tmp_path_factory.mktemp("privacy-api")
    url = f"sqlite:///{workdir / 'shared.db'}"
    env = {
        "DMPILOT_WEBHOOK_TOKEN": TOKEN,
        "DMPILOT_COALESCE_SECONDS": "0",
        "DMPILOT_LOG_LEVEL": "warning",
        "DMPILOT_DATABASE_URL": url,
    }
    with Server(workdir, env) as server:
        post_message(server, MIRA, SECRET)
        yield server, url


def test_forgetting_while_the_server_answers_that_contact(
    start_server: Callable[..., Server], database_url: str
) -> None:
    """A contact writing as fast as it can while it is forgotten: every request is answered
    (never a 500), the forget goes through, and nothing the contact writes after it is
    answered."""
    server = start_server(DMPILOT_DATABASE_URL=database_url)
    post_message(server, "7001", "hello! love your photos, greetings from Lillehammer")
    forgot_at: list[float] = []
    answers: list[tuple[float, int, dict[str, Any]]] = []
    stop = threading.Event()

    def chatter() -> None:
        with httpx.Client(base_url=server.url, headers=auth(), timeout=60) as client:
            n = 0
            while not stop.is_set():
                n += 1
                started = time.monotonic()
                body = {"subscriber": {"id": "7001"}, "last_input_text": f"message {n} LILLE{n}"}
                response = client.post("/webhooks/manychat", json=body)
                answers.append((started, response.status_code, response.json()))
                time.sleep(0.05)  # as fast as a person types, near enough

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        time.sleep(1.0)
        forgotten = httpx.post(
            f"{server.url}/admin/contacts/forget",
            json={"contact": "7001"},
            headers=auth(),
            timeout=60,
        )
        forgot_at.append(time.monotonic())
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert forgotten.status_code == 200, forgotten.text
    assert all(code == 200 for _, code, _ in answers), answers
    after = [body for started, _, body in answers if started > forgot_at[0]]
    assert after and all(
        (body["should_send"], body["reason"]) == (False, "stopped") for body in after
    ), after
    shell = forgotten.json()["contact"]["id"]
    texts = query_database(database_url, f"select text from messages where contact_id = {shell}")
    assert texts and all(text == "" or text.startswith("http") for (text,) in texts)
    assert anywhere(database_url, "Lillehammer") == []
    # Whatever it wrote after the forget belongs to a new contact, stopped from its start.
    assert {
        reason
        for (reason,) in query_database(
            database_url, "select stop_reason from contacts where external_id = '7001'"
        )
    } <= {"forgotten"}


# -- the worker's retention chore -------------------------------------------------------------


def test_the_worker_blanks_old_texts_and_stats_and_the_audit_stay(
    start_server: Callable[..., Server], database_url: str, tmp_path: Path
) -> None:
    """`dmpilot worker` and a two-process `dmpilot serve` run the chore at once."""
    persona = load_persona()
    store = Store.open(database_url, pool_size=2)
    try:
        written, planted = generate(store, persona, contact_count=30, per_plant=2, now=utcnow())
    finally:
        store.close()
    env = {"DMPILOT_DATABASE_URL": database_url, "DMPILOT_LOG_LEVEL": "warning"}
    stats_before = json.loads(cli_stdout(["stats", "--json"], env, tmp_path))
    audit_before = json.loads(
        cli_stdout(["audit", "--json", "--max-findings", "100000"], env, tmp_path)
    )
    assert audit_before["totals"] == {finding.value: n for finding, n in planted.items()}

    retention = {**env, "DMPILOT_RETENTION_DAYS": "2"}
    worker = WorkerProcess(tmp_path, retention).start()
    server = start_server(workers=2, **retention)
    try:
        wait_until(
            lambda: (
                query_database(
                    database_url, "select count(*) from messages where redacted_at is null"
                )
                == [(0,)]
            ),
            60,
            f"the worker's retention chore to blank {written} messages",
        )
    finally:
        worker.stop()
        server.stop()
    assert "Traceback" not in worker.log_text() + server.log_text()
    assert anywhere(database_url, "from a fan") == []  # the synthetic fans' words
    assert json.loads(cli_stdout(["stats", "--json"], env, tmp_path)) == stats_before
    audit_after = json.loads(
        cli_stdout(["audit", "--json", "--max-findings", "100000"], env, tmp_path)
    )
    assert audit_after["totals"] == audit_before["totals"]
    assert audit_after["messages"] == audit_before["messages"]


def test_a_retention_below_two_days_is_refused_with_the_fix(tmp_path: Path) -> None:
    env = {"DMPILOT_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "DMPILOT_RETENTION_DAYS": "1"}
    result = run_cli(["worker"], env, tmp_path, timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "DMPILOT_RETENTION_DAYS" in result.stderr and "2" in result.stderr
