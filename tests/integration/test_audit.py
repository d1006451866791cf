"""The audit finds exactly what was planted, on SQLite and PostgreSQL, and nothing in a
history the engine wrote itself."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from dmpilot.audit import Finding, run_audit
from dmpilot.audit.stats import compute
from dmpilot.audit.synthetic import generate
from dmpilot.demo import demo_system, run_demo
from dmpilot.domain.contacts import ContactRef
from dmpilot.domain.findings import AuditReport
from dmpilot.domain.links import LinkMatcher
from dmpilot.personas import load_persona
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from dmpilot.store.reads.audit import STEPS
from support import settings_for

PERSONA = load_persona()
LINKS = LinkMatcher.for_link(str(PERSONA.link.url))


def audit(store: Store, **scope: object) -> AuditReport:
    with store.reading() as reads:
        return run_audit(reads, PERSONA, utcnow(), links=LINKS, **scope)  # type: ignore[arg-type]


def test_finds_exactly_the_planted_findings(store: Store) -> None:
    now = utcnow()
    written, planted = generate(store, PERSONA, contact_count=60, per_plant=3, now=now)
    assert written > 60 * 50
    steps: list[str] = []
    report = audit(store, progress=steps.append)
    assert dict(report.totals) == dict(planted)
    assert all(count > 0 for finding, count in planted.items() if not finding.startswith("DELIV"))
    assert len(steps) == STEPS
    # each planted contact carries its own finding; the 30 unplanted ones carry none
    assert len(report.by_contact) == 30
    with store.reading() as reads:
        one = reads.find_contact(ContactRef.parse("@fan6"))
        assert one is not None and reads.find_contact(ContactRef.parse("s6")) == one
        assert reads.find_contact(ContactRef.parse(f"id:{one.id}")) == one
    scoped = audit(store, contact_id=one.id)
    assert scoped.total == 1 and scoped.by_contact[0].counts[Finding.REPEATED_MESSAGE] == 1


def test_since_limits_the_scope(store: Store) -> None:
    now = utcnow()
    generate(store, PERSONA, contact_count=20, per_plant=2, now=now)
    assert audit(store, since=now + timedelta(days=1)).messages == 0


def test_the_engine_itself_leaves_nothing_to_find(store: Store, database_url: str) -> None:
    now = utcnow()
    system = demo_system(store, settings_for(database_url), now - timedelta(days=4))
    outcomes = asyncio.run(run_demo(system, contacts=25))
    assert outcomes["sent"] > 100 and outcomes["duplicate"] > 0 and outcomes["minor"] == 1
    report = audit(store)
    assert report.total == 0, [(c.external_id, dict(c.counts)) for c in report.by_contact]
    with store.reading() as reads:
        figures = compute(reads.raw_stats(None), PERSONA)
    assert figures.contacts == 25
    assert (
        figures.stops["cap"] > 0 and figures.stops["minor"] == 1 and figures.stops["opt_out"] == 1
    )
    assert figures.blocked["duplicate"] == outcomes["duplicate"]
    reached = [count for _, count, _ in figures.reached]
    assert reached == sorted(reached, reverse=True) and reached[0] == 25
    assert sum(day["replies"] for day in figures.per_day) == figures.outbound
    assert figures.deliveries == {"sent": figures.outbound}
