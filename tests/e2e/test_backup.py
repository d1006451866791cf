"""`dmpilot backup` / `restore` against a real server under write load, and their refusals."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from dmpilot.audit import run_audit
from dmpilot.domain.links import LinkMatcher
from dmpilot.personas import load_persona
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from support import Server, auth, run_cli, wait_until

THREADS = 6


@dataclass(frozen=True)
class Reply:
    subscriber: str
    text: str
    answered_at: float  # time.monotonic() when the HTTP response arrived


def _load(server: Server, thread: int, stop: threading.Event, replies: list[Reply]) -> None:
    with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as client:
        sent = 0
        while not stop.is_set():
            # A new contact per message: each is owed a reply, none is a duplicate or an exit.
            subscriber = f"load-{thread}-{sent}"
            response = client.post(
                "/webhooks/manychat",
                json={"subscriber": {"id": subscriber}, "last_input_text": f"hey {sent}!"},
            )
            answered_at = time.monotonic()
            response.raise_for_status()
            body = response.json()
            if body["should_send"]:
                replies.append(Reply(subscriber, body["response"], answered_at))
            sent += 1


def test_a_backup_taken_under_write_load_restores_every_committed_reply(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    live = tmp_path / "live.db"
    # A new contact per message, so lift the daily budget of new conversations.
    server = start_server(
        DMPILOT_DATABASE_URL=f"sqlite:///{live}", DMPILOT_DAILY_NEW_CONVERSATIONS="1000000"
    )
    stop = threading.Event()
    replies: list[Reply] = []  # list.append is atomic under the GIL
    threads = [
        threading.Thread(target=_load, args=(server, n, stop, replies), daemon=True)
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(replies) >= 60, 60, "the load to get going")
        started = time.monotonic()
        made = run_cli(["--database", f"sqlite:///{live}", "backup", "snap.db"], {}, tmp_path)
        finished = time.monotonic()
        wait_until(lambda: any(r.answered_at > finished for r in replies), 30, "more load")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert made.returncode == 0, made.stderr
    assert "saved" in made.stdout and "contacts" in made.stdout
    during = [r for r in replies if started <= r.answered_at <= finished]
    before = [r for r in replies if r.answered_at < started]
    assert before and during, "the backup ran while replies were being written"

    restored = tmp_path / "restored.db"
    back = run_cli(["--database", f"sqlite:///{restored}", "restore", "snap.db"], {}, tmp_path)
    assert back.returncode == 0, back.stderr

    with sqlite3.connect(restored) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        saved = set(
            db.execute(
                "SELECT c.external_id, m.text FROM messages m JOIN contacts c "
                "ON c.id = m.contact_id WHERE m.direction = 'out'"
            ).fetchall()
        )
    missing = [r for r in before if (r.subscriber, r.text) not in saved]
    assert not missing, f"{len(missing)} of {len(before)} committed replies lost: {missing[:3]}"

    persona = load_persona()
    store = Store.open(f"sqlite:///{restored}", pool_size=1)
    try:
        with store.reading() as reads:
            report = run_audit(
                reads, persona, utcnow(), links=LinkMatcher.for_link(str(persona.link.url))
            )
    finally:
        store.close()
    assert report.total == 0, report.totals
    assert report.contacts >= len(before)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backup-demo")
    made = run_cli(["demo", "--contacts", "6", "--file", "demo.db"], {}, folder)
    assert made.returncode == 0, made.stderr
    return folder / "demo.db"


@pytest.fixture
def demo_db(demo_file: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh copy of one demo history (the demo process has exited: no -wal is left)."""
    live = tmp_path / "live.db"
    shutil.copyfile(demo_file, live)
    return live, {"DMPILOT_DATABASE_URL": f"sqlite:///{live}"}


def test_backup_refuses_an_existing_file_and_the_live_database(
    demo_db: tuple[Path, dict[str, str]],
) -> None:
    live, env = demo_db
    taken = live.with_name("taken.db")
    taken.write_text("precious")
    refused = run_cli(["backup", str(taken)], env, live.parent)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert "--force" in refused.stderr and taken.read_text() == "precious"
    itself = run_cli(["backup", "./live.db"], env, live.parent)
    assert itself.returncode == 1 and "is the live database" in itself.stderr
    forced = run_cli(["backup", "--force", str(taken)], env, live.parent)
    assert forced.returncode == 0, forced.stderr
    assert "6 contacts" in forced.stdout
    for result in (refused, itself, forced):
        assert "Traceback" not in result.stderr
    # Nothing half-written is left behind.
    assert sorted(p.name for p in live.parent.glob(".*partial*")) == []


def test_restore_refuses_what_is_not_a_dmpilot_database(
    demo_db: tuple[Path, dict[str, str]],
) -> None:
    live, _env = demo_db
    folder = live.parent
    junk = folder / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    other = folder / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    target = {"DMPILOT_DATABASE_URL": f"sqlite:///{folder / 'new.db'}"}
    for path, words in ((junk, "not a dmpilot database"), (other, "no schema version")):
        result = run_cli(["restore", str(path)], target, folder)
        assert result.returncode == 1 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    missing = run_cli(["restore", "nowhere.db"], target, folder)
    assert missing.returncode == 1 and "no file" in missing.stderr
    device = run_cli(["restore", "/dev/zero"], target, folder)
    assert device.returncode == 1 and "not a regular file" in device.stderr, device.stderr


def test_restore_refuses_a_database_holding_data_unless_forced_and_keeps_it(
    demo_db: tuple[Path, dict[str, str]],
) -> None:
    live, env = demo_db
    folder = live.parent
    assert run_cli(["backup", "snap.db"], env, folder).returncode == 0
    refused = run_cli(["restore", "snap.db"], env, folder)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert "6 contacts" in refused.stderr
    forced = run_cli(["restore", "--force", "snap.db"], env, folder)
    assert forced.returncode == 0, forced.stderr
    kept = list(folder.glob("live.db.before-restore-*"))
    assert len(kept) == 1 and "kept as" in forced.stdout
    with sqlite3.connect(kept[0]) as db:
        assert db.execute("SELECT count(*) FROM contacts").fetchone() == (6,)


def test_restore_refuses_while_a_server_uses_the_database(
    start_server: Callable[..., Server], demo_file: Path, tmp_path: Path
) -> None:
    shutil.copyfile(demo_file, tmp_path / "snap.db")
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    server = start_server(DMPILOT_DATABASE_URL=url)
    httpx.post(
        f"{server.url}/webhooks/manychat",
        json={"subscriber": {"id": "x"}, "last_input_text": "hi"},
        headers=auth(),
        timeout=30,
    ).raise_for_status()
    result = run_cli(["restore", "--force", "snap.db"], {"DMPILOT_DATABASE_URL": url}, tmp_path)
    assert result.returncode == 1 and "in use" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_postgres_backup_prints_pg_dump_with_the_password_masked(tmp_path: Path) -> None:
    env = {"DMPILOT_DATABASE_URL": "postgresql://dm:s3cr3t@db.example:5433/dmpilot"}
    result = run_cli(["backup", "dm.dump"], env, tmp_path)
    assert result.returncode == 2
    assert (
        "pg_dump --format=custom --file 'dm.dump' 'postgresql://dm:***@db.example:5433/dmpilot'"
        in result.stdout
    )
    assert "pg_restore" in result.stdout
    assert "s3cr3t" not in result.stdout + result.stderr
    back = run_cli(["restore", "dm.dump"], env, tmp_path)
    assert back.returncode == 2 and "pg_restore" in back.stdout
    assert "s3cr3t" not in back.stdout + back.stderr
    assert not (tmp_path / "dm.dump").exists()
