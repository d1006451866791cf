"""Audit speed and exactness: a synthetic history of 1,000,000 messages over 20,000 contacts
with planted duplicates, loops, repeated exits, link spam, sends after a stop, double
replies, unanswered messages and wrong-language replies; the audit must find exactly the
planted counts.

    python bench/audit.py [--contacts 20000] [--postgres-url URL] [--skip-postgres]
                          [--while-serving]

Runs on a new SQLite file and, when PostgreSQL answers, on a new PostgreSQL database.
Exits 1 if any count differs from what was planted. `--while-serving` starts `dmpilot
serve` on the same database and drives its webhook with wrk (new contacts, inline
replies) for as long as the audit runs, and prints what the webhook did meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
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


@contextmanager
def serving(url: str, workdir: Path) -> Iterator[list[str]]:
    """`dmpilot serve` on `url` under a wrk load while the block runs; yields the lines
    that say what the webhook did meanwhile (filled in when the block ends)."""
    from webhook import free_port, numeric_tag, server_command, start, stop, wait_up

    env = {k: v for k, v in os.environ.items() if not k.startswith("DMPILOT_")}
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/webhooks/manychat"
    command, env = server_command("inline", port, url, env, "")
    process = start("audit-serve", command, env, workdir)
    report: list[str] = []
    try:
        wait_up(endpoint, process)
        load = subprocess.Popen(
            [
                *("wrk", "-t2", "-c32", "-d600s", "--timeout", "30s", "-s"),
                *(str(Path(__file__).parent / "webhook.lua"), endpoint, "--", numeric_tag()),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)  # the load is on before the audit starts
        yield report
        load.send_signal(signal.SIGINT)  # wrk prints its summary when interrupted
        out = load.communicate(timeout=30)[0]
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        latency = re.search(r"LATENCY p50=([\d.]+) p99=([\d.]+)", out)
        counts = re.search(r"COUNTS sent=(\d+) skipped=(\d+) errors=(\d+)", out)
        if rps and latency and counts:
            report.append(
                f"  webhook meanwhile: {float(rps.group(1)):.0f} req/s, p50 "
                f"{float(latency.group(1)):.1f} ms, p99 {float(latency.group(2)):.1f} ms, "
                f"{counts.group(1)} replies, {counts.group(3)} errors"
            )
        else:
            report.append(f"  webhook meanwhile: wrk said {out[-300:]!r}")
    finally:
        stop(process)


def measure(
    url: str, contacts: int, while_serving: bool
) -> tuple[int, float, float, bool, list[str]]:
    persona = load_persona()
    store = Store.open(url)
    now = utcnow()
    started = time.perf_counter()
    written, planted = generate(store, persona, contacts, contacts // 100, now)
    generated = time.perf_counter() - started
    links = LinkMatcher.for_link(str(persona.link.url))
    with tempfile.TemporaryDirectory(prefix="dmpilot-audit-") as tmp:
        load: AbstractContextManager[list[str]] = (
            serving(url, Path(tmp)) if while_serving else nullcontext([])
        )
        with load as served, store.reading() as reads:
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
    return written, generated, report.seconds, exact, lines + served


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--while-serving", action="store_true")
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
            written, generated, audited, exact, lines = measure(
                url, args.contacts, args.while_serving
            )
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
