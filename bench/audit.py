"""Audit speed and exactness: a synthetic history of 1,000,000 messages over 20,000 contacts
with planted duplicates, loops, repeated exits, link spam, sends after a stop, double
replies, unanswered messages and wrong-language replies; the audit must find exactly the
planted counts.

    python bench/audit.py [--contacts 20000] [--postgres-url URL] [--skip-postgres]

Runs on a new SQLite file and, when PostgreSQL answers, on a new PostgreSQL database.
Exits 1 if any count differs from what was planted.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from dmpilot.audit import run_audit
from dmpilot.audit.synthetic import generate
from dmpilot.domain.links import LinkMatcher
from dmpilot.personas import load_persona
from dmpilot.runtime import utcnow
from dmpilot.store import Store


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dmpilot-audit-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'audit.db'}"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    admin = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
    name = f"dmpilot_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, contacts: int) -> tuple[int, float, float, bool, list[str]]:
    persona = load_persona()
    store = Store.open(url)
    now = utcnow()
    started = time.perf_counter()
    written, planted = generate(store, persona, contacts, contacts // 100, now)
    generated = time.perf_counter() - started
    links = LinkMatcher.for_link(str(persona.link.url))
    with store.reading() as reads:
        report = run_audit(reads, persona, now, links=links)
    store.close()
    lines = []
    exact = True
    for finding, found in report.totals.items():
        ok = found == planted[finding]
        exact &= ok
        lines.append(
            f"  {finding.value:<18} planted {planted[finding]:>6}  found {found:>6}"
            f"  {'ok' if ok else 'MISMATCH'}"
        )
    return written, generated, report.seconds, exact, lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    targets = [("sqlite", sqlite_database())]
    if not args.skip_postgres:
        try:
            psycopg.connect(
                make_url(args.postgres_url).set(drivername="postgresql").render_as_string(False),
                connect_timeout=3,
            ).close()
            targets.append(("postgresql", postgres_database(args.postgres_url)))
        except psycopg.Error as exc:
            print(f"PostgreSQL not answering ({exc.__class__.__name__}); SQLite only")

    all_exact = True
    rows = []
    for name, database in targets:
        with database as url:
            written, generated, audited, exact, lines = measure(url, args.contacts)
        all_exact &= exact
        rows.append((name, written, generated, audited, exact))
        print(f"{name}: {written} messages, {args.contacts} contacts")
        print("\n".join(lines))
    print(f"\n{'database':<12}{'messages':>10}{'generate s':>12}{'audit s':>10}  exact")
    for name, written, generated, audited, exact in rows:
        print(
            f"{name:<12}{written:>10}{generated:>12.1f}{audited:>10.2f}  {'yes' if exact else 'NO'}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB (target: audit under 10 s)")
    sys.exit(0 if all_exact else 1)


if __name__ == "__main__":
    main()
