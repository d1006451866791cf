"""store/backup.py on real SQLite files, in process: the copy under writes, schema checks,
the lock probe, and what is left on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import cast

import pytest
from alembic import command
from sqlalchemy import text

from dmpilot.store import backup as store_backup
from dmpilot.store.backup import BackupError, backup, postgres_commands, restore
from dmpilot.store.database import _alembic_config, create_db_engine, schema_head


def _database(path: Path, revision: str = "head") -> str:
    url = f"sqlite:///{path}"
    engine = create_db_engine(url, pool_size=1)
    try:
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    return url


def _add_contacts(path: Path, count: int, start: int = 0) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO contacts (channel, external_id, created_at, last_inbound_at, "
            "cycle_started_at, turn_attempts, goodbye_due) VALUES "
            "('manychat', ?, '2026-11-01', '2026-11-01', '2026-11-01', 0, 0)",
            [(f"c{n}",) for n in range(start, start + count)],
        )


def test_a_stepped_copy_under_constant_writes_still_finishes_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One page per step and one restart allowed, and a write between every two steps (from
    # another connection, as a serving process would): the writes keep restarting the
    # copy, so the fallback (one snapshot) must take over rather than loop forever.
    monkeypatch.setattr(store_backup, "STEP_PAGES", 1)
    monkeypatch.setattr(store_backup, "MAX_RESTARTS", 1)
    live = tmp_path / "live.db"
    url = _database(live)
    _add_contacts(live, 20_000)
    fell_back: list[bool] = []
    written: list[int] = []
    stepped = store_backup._stepped_backup

    class WritesBetweenSteps:
        def __init__(self, source: sqlite3.Connection) -> None:
            self.source = source

        def backup(
            self,
            target: sqlite3.Connection,
            *,
            pages: int,
            progress: Callable[[int, int, int], object],
        ) -> None:
            def between(status: int, remaining: int, total: int) -> None:
                _add_contacts(live, 1, start=20_000 + len(written))
                written.append(1)
                progress(status, remaining, total)

            self.source.backup(target, pages=pages, progress=between)

    def spy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
        try:
            stepped(cast(sqlite3.Connection, WritesBetweenSteps(source)), target)
        except store_backup._TooManyRestarts:
            fell_back.append(True)
            raise

    monkeypatch.setattr(store_backup, "_stepped_backup", spy)
    facts = backup(url, tmp_path / "copy.db")
    assert fell_back, "the writes restarted the stepped copy"
    assert written, "the copy was stepped"
    # The fallback is one snapshot taken after the stepped copy's writes.
    assert facts.contacts == 20_000 + len(written)
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    # One self-contained file, and no temporary file left next to it.
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy"))
    assert names == ["copy.db"]
    assert not list(tmp_path.glob(".*partial*"))


def test_a_failed_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    live.write_bytes(b"garbage, not SQLite" * 500)
    with pytest.raises(BackupError, match="the copy failed: file is not a database"):
        backup(f"sqlite:///{live}", tmp_path / "copy.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.db"]


def test_an_older_backup_is_migrated_to_head_on_restore(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    _database(old, "0006")
    _add_contacts(old, 3)
    result = restore(old, f"sqlite:///{tmp_path / 'new.db'}")
    assert result.migrated_from == "0006" and result.kept is None
    assert result.restored.revision == schema_head()[0] and result.restored.contacts == 3


def test_a_backup_from_a_newer_dmpilot_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    _database(newer)
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(BackupError, match="newer dmpilot"):
        restore(newer, f"sqlite:///{tmp_path / 'new.db'}")
    assert not (tmp_path / "new.db").exists()


def test_restore_refuses_a_target_another_connection_has_open(tmp_path: Path) -> None:
    source = tmp_path / "b.db"
    _database(source)
    target = tmp_path / "live.db"
    url = _database(target)
    engine = create_db_engine(url, pool_size=1)  # WAL, as the server opens it
    try:
        with engine.connect() as idle:
            idle.execute(text("SELECT count(*) FROM contacts")).one()
            idle.commit()
            # An idle pooled connection, like a server between requests.
            with pytest.raises(BackupError, match="in use"):
                restore(source, url, force=True)
    finally:
        engine.dispose()
    restore(source, url, force=True)  # once it is closed


def test_restore_refuses_the_live_file_itself(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    url = _database(live)
    with pytest.raises(BackupError, match="the database it would replace"):
        restore(live, url, force=True)


def test_pg_commands_quote_paths_and_mask_every_secret() -> None:
    commands = postgres_commands(
        "postgresql+psycopg://u:pw@h:5432/d?sslpassword=zz", "it's here.dump"
    )
    assert commands.dump == (
        "pg_dump --format=custom --file 'it'\\''s here.dump' "
        "'postgresql://u:***@h:5432/d?sslpassword=***'"
    )
    assert "pw" not in commands.restore and "zz" not in commands.restore
    assert commands.restore.startswith("pg_restore ")
