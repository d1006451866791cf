"""The console's store side on SQLite and PostgreSQL: stored audit findings (replaced as a
whole, by the console and by `dmpilot audit`), and the inbox at 20,000 contacts."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from dmpilot.bootstrap import bootstrap
from dmpilot.brains import ScriptedBrain
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.contacts import ContactStatus
from dmpilot.domain.findings import AuditReport, ContactFindings, Finding
from dmpilot.runtime import SystemRandom, utcnow
from dmpilot.store import Store
from dmpilot.store.findings import replace_findings
from dmpilot.store.reads.console import InboxQuery, Search, SearchKind
from dmpilot.store.schema import audit_findings, contacts, messages
from support import FakeClock, engine_config, inbound, run_cli, settings_for

START = datetime(2026, 10, 1)


def report(*found: tuple[int, Finding, int]) -> AuditReport:
    by_contact: dict[int, ContactFindings] = {}
    for contact_id, finding, count in found:
        entry = by_contact.setdefault(
            contact_id, ContactFindings(contact_id, str(contact_id), None)
        )
        entry.counts[finding] += count
    return AuditReport(None, 0, 0, 0.0, list(by_contact.values()))


def stored(store: Store) -> set[tuple[int, str, int]]:
    with store.reading() as reads:
        rows = reads.db.execute(
            select(audit_findings.c.contact_id, audit_findings.c.finding, audit_findings.c.count)
        )
        return {(int(a), str(b), int(c)) for a, b, c in rows}


def test_findings_are_replaced_as_a_whole(store: Store) -> None:
    with store.writing() as unit:
        written = replace_findings(
            unit.db,
            report(
                (1, Finding.UNANSWERED, 2),
                (1, Finding.DOUBLE_REPLY, 1),
                (2, Finding.POTENTIAL_LOOP, 1),
            ),
            START,
        )
    assert written == 3
    assert stored(store) == {(1, "UNANSWERED", 2), (1, "DOUBLE_REPLY", 1), (2, "POTENTIAL_LOOP", 1)}
    with store.writing() as unit:
        replace_findings(unit.db, report((3, Finding.DELIVERY_FAILED, 4)), START)
    assert stored(store) == {(3, "DELIVERY_FAILED", 4)}
    with store.writing() as unit:
        assert replace_findings(unit.db, report(), START) == 0
    assert stored(store) == set()


async def test_dmpilot_audit_stores_findings_only_for_the_whole_history(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    # A message left unanswered an hour ago (the kill switch was on): one finding.
    clock = FakeClock(utcnow() - timedelta(hours=1))
    system = bootstrap(
        settings_for(database_url),
        store=store,
        brain=ScriptedBrain(seed=1),
        config=engine_config(),
        clock=clock,
        random=SystemRandom(1),
        senders={},
    )
    with store.writing() as unit:
        unit.control.set_paused(True, "testing", "test", clock.now())
    await system.engine.handle(ReceiveMessage(inbound("ignored", "anyone there?", clock.now())))
    with store.writing() as unit:
        unit.control.set_paused(False, None, "test", clock.now())
    env = {"DMPILOT_DATABASE_URL": database_url}

    partial = run_cli(["audit", "--since", "2020-01-01"], env, tmp_path)
    assert partial.returncode == 1, partial.stderr  # findings, and nothing stored
    assert stored(store) == set()

    whole = run_cli(["audit"], env, tmp_path)
    assert whole.returncode == 1, whole.stderr
    assert {finding for _, finding, _ in stored(store)} == {"UNANSWERED"}


def test_the_inbox_pages_20000_contacts_quickly_and_exactly(store: Store) -> None:
    rows = [
        {
            "channel": "manychat",
            "external_id": f"sub-{n}",
            "username": f"fan{n}",
            "created_at": START,
            # two contacts per second: ties the id breaks
            "last_inbound_at": START + timedelta(seconds=n // 2),
            "cycle_started_at": START,
            "stopped_at": START if n % 10 == 0 else None,
            "stop_reason": "cap" if n % 10 == 0 else None,
        }
        for n in range(20_000)
    ]
    with store.writing() as unit:
        unit.db.execute(insert(contacts), rows)
        ids = [cid for (cid,) in unit.db.execute(select(contacts.c.id).order_by(contacts.c.id))]
        unit.db.execute(
            insert(messages),
            [
                {
                    "contact_id": cid,
                    "direction": "in",
                    "kind": "text",
                    "text": f"message {k} of {cid}",
                    "created_at": START,
                }
                for cid in ids
                for k in range(2)
            ],
        )
    now = START + timedelta(days=1)
    with store.reading() as reads:
        started = time.perf_counter()
        first = reads.console_inbox(InboxQuery(), now)
        stopped = reads.console_inbox(InboxQuery(status=ContactStatus.STOPPED), now)
        found = reads.console_inbox(InboxQuery(search=Search(SearchKind.ANY, "fan1999")), now)
        assert first.older is not None
        deep = reads.console_inbox(InboxQuery(after=first.older), now)
        elapsed = time.perf_counter() - started
        newest = reads.db.scalar(select(func.max(contacts.c.id)))
    assert elapsed < 3.0, f"four inbox pages took {elapsed:.2f} s"
    assert [row.contact.id for row in first.rows][:2] == [newest, newest - 1]
    assert first.rows[0].preview == f"message 1 of {newest}"  # the newest message
    assert first.newer is None and deep.newer is not None
    assert not {r.contact.id for r in first.rows} & {r.contact.id for r in deep.rows}
    assert all(row.contact.status(now) is ContactStatus.STOPPED for row in stopped.rows)
    assert len(stopped.rows) == 50
    assert Counter(row.contact.username[:7] for row in found.rows if row.contact.username) == {
        "fan1999": 11  # fan1999 and fan19990..fan19999
    }
