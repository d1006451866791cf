"""The audit finds exactly what was planted, on SQLite and PostgreSQL, and nothing in a
history the engine wrote itself."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from dmpilot.audit import Finding, find_contact_id, run_audit
from dmpilot.audit.stats import compute
from dmpilot.audit.synthetic import generate
from dmpilot.demo import run_demo
from dmpilot.engine import utcnow
from dmpilot.personas import load_persona
from dmpilot.store import Store

PERSONA = load_persona()


def test_finds_exactly_the_planted_findings(store: Store) -> None:
    now = utcnow()
    written, planted = generate(store, PERSONA, contact_count=60, per_plant=3, now=now)
    assert written > 60 * 50
    steps: list[str] = []
    report = run_audit(store, PERSONA, now, progress=steps.append)
    assert dict(report.totals) == dict(planted)
    assert all(count > 0 for count in planted.values())
    assert len(steps) == 7
    # each planted contact carries its own finding; the 30 unplanted ones carry none
    assert len(report.by_contact) == 30
    one = find_contact_id(store, "@fan6")
    assert one is not None and find_contact_id(store, "s6") == one
    scoped = run_audit(store, PERSONA, now, contact_id=one)
    assert scoped.total == 1 and scoped.by_contact[0].counts[Finding.REPEATED_MESSAGE] == 1


def test_since_limits_the_scope(store: Store) -> None:
    now = utcnow()
    generate(store, PERSONA, contact_count=20, per_plant=2, now=now)
    assert run_audit(store, PERSONA, now, since=now + timedelta(days=1)).messages == 0


def test_the_engine_itself_leaves_nothing_to_find(store: Store) -> None:
    now = utcnow()
    outcomes = asyncio.run(run_demo(store, PERSONA, now - timedelta(days=4), contacts=25))
    assert outcomes["sent"] > 100 and outcomes["duplicate"] > 0 and outcomes["minor"] == 1
    report = run_audit(store, PERSONA, now)
    assert report.total == 0, [(c.external_id, dict(c.counts)) for c in report.by_contact]
    figures = compute(store, PERSONA)
    assert figures.contacts == 25
    assert (
        figures.stops["cap"] > 0 and figures.stops["minor"] == 1 and figures.stops["opt_out"] == 1
    )
    assert figures.blocked["duplicate"] == outcomes["duplicate"]
    reached = [count for _, count, _ in figures.reached]
    assert reached == sorted(reached, reverse=True) and reached[0] == 25
    assert sum(day["replies"] for day in figures.per_day) == figures.outbound
