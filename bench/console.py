"""Operator console render times: every console page over a real `dmpilot serve`, on the
`dmpilot demo` history and on a 20,000-contact synthetic history (about a million
messages, audit/synthetic.py), on SQLite and, with --postgres, on PostgreSQL.

    python bench/console.py [--rounds 30] [--contacts 20000] [--demo-contacts 60]
                            [--postgres] [--postgres-url URL] [--skip-synthetic]

For each database and history it starts the server (inline delivery, no worker), signs in
through /console/sign-in like a browser, then times N sequential GETs of: the overview,
inbox page 1, inbox page ~50 (reached by following the "Older" keyset link), an inbox
search that finds a few contacts and one that finds none, the inbox filtered by a contact
state, a conversation, its timeline fragment (what the page polls every few seconds) and
the audit page. Prints p50/p99 per page, flags any
page whose p99 is over 300 ms, and the server's peak RSS. Exits 1 if a page failed.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
import psycopg
import sqlalchemy as sa
from sqlalchemy import make_url

from dmpilot.audit.synthetic import generate
from dmpilot.domain.contacts import ContactStatus, HandoffReason
from dmpilot.personas import load_persona
from dmpilot.runtime import utcnow
from dmpilot.store import Store
from dmpilot.store.schema import contacts, messages

SLOW_MS = 300.0
PASSWORD = "bench-console-password"
TOKEN = "bench-webhook-token-0123456789abcdef"
INBOX_DEPTH = 50  # the inbox page an operator scrolling back a long way reaches
CONTACT_LINK = re.compile(r"/console/contacts/(\d+)(?:[/?#]|$)")


# -- reading the console's HTML ----------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class Page(HTMLParser):
    """What the bench follows on a page: links (href and text), forms (hidden fields and
    names), select options, and a live timeline's polling endpoint."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.forms: list[Form] = []
        self.live_timeline: tuple[str, str] | None = None  # (data-poll-url, data-cursor)
        self.selects: dict[str, list[str]] = {}
        self._link: list[str] | None = None
        self._href = ""
        self._select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "data-poll-url" in values:
            self.live_timeline = (values["data-poll-url"], values.get("data-cursor", ""))
        if tag == "a" and "href" in values:
            self._link, self._href = [], values["href"]
        elif tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag in ("input", "textarea") and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif tag == "select" and values.get("name"):
            self._select = values["name"]
            self.selects[self._select] = []
            if self.forms:
                self.forms[-1].fields.setdefault(self._select, "")
        elif tag == "option" and self._select is not None:
            self.selects[self._select].append(values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            self.links.append((self._href, " ".join("".join(self._link).split())))
            self._link = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link.append(data)

    def link(self, text: str) -> str | None:
        """The first link whose text contains `text` (case-insensitive)."""
        wanted = text.lower()
        return next((href for href, label in self.links if wanted in label.lower()), None)

    def contact_ids(self) -> list[int]:
        found = (CONTACT_LINK.search(href) for href, _ in self.links)
        return list(dict.fromkeys(int(match.group(1)) for match in found if match))


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This shell's environment without its DMPILOT_* settings: the bench sets its own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DMPILOT_")}
    return {**base, **extra}


@contextmanager
def serve(database_url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """`dmpilot serve` (one process, inline delivery: no worker competing for the
    database); yields its address and process id."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        DMPILOT_DATABASE_URL=database_url,
        DMPILOT_WEBHOOK_TOKEN=TOKEN,
        DMPILOT_CONSOLE_PASSWORD=PASSWORD,
        DMPILOT_BRAIN="scripted",
        DMPILOT_LOG_LEVEL="warning",
    )
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "dmpilot", "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    sys.exit(f"server exited early:\n{log_path.read_text(errors='replace')}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit(f"server did not come up:\n{log_path.read_text(errors='replace')}")
                time.sleep(0.2)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def sign_in(client: httpx.Client) -> None:
    """As a browser does: the sign-in page's form, with its hidden fields, and the password."""
    page = client.get("/console/sign-in")
    page.raise_for_status()
    form = next((f for f in Page(page.text).forms if "password" in f.fields), None)
    if form is None:
        sys.exit("/console/sign-in has no form with a password field")
    answer = client.request(
        form.method.upper() if form.method in ("get", "post") else "POST",
        urljoin(str(page.url), form.action or str(page.url)),
        data={**form.fields, "password": PASSWORD},
    )
    if answer.is_redirect:
        answer = client.get(answer.headers["location"])
    overview = client.get("/console/overview")
    if overview.status_code != 200 or "/console/sign-in" in str(overview.url):
        sys.exit(f"signing in failed: {answer.status_code} then {overview.url}")


# -- the pages ---------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    path: str
    note: str = ""


def local(href: str) -> str:
    """A link as a path on the server (absolute links keep only path and query)."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def deep_inbox_page(client: httpx.Client) -> Target:
    """Inbox page ~INBOX_DEPTH, reached by following "Older" as an operator would."""
    path, page_number = "/console/inbox", 1
    while page_number < INBOX_DEPTH:
        older = Page(client.get(path).text).link("Older")
        if older is None:
            break
        path, page_number = local(older), page_number + 1
    return Target("inbox page N", path, f"page {page_number}")


def state_filter(inbox_html: str, state: str) -> Target:
    """The inbox filtered by a contact state, under the name the inbox's own control uses."""
    page = Page(inbox_html)
    name = next((name for name, options in page.selects.items() if state in options), None)
    if name is None:
        sys.exit(f"the inbox has no filter control offering the state {state!r}")
    return Target("inbox by state", f"/console/inbox?{urlencode({name: state})}", state)


def timeline_fragment(conversation_html: str, contact_id: int) -> Target:
    """What the conversation page polls every few seconds: its timeline's poll URL after
    its newest entry (the common answer: nothing new)."""
    timeline = Page(conversation_html).live_timeline
    if timeline is None:
        sys.exit(f"/console/contacts/{contact_id} has no live timeline (data-poll-url)")
    url, cursor = timeline
    return Target("timeline fragment", f"{local(url)}?{urlencode({'after': cursor})}")


@dataclass(frozen=True)
class Probe:
    """What a history holds to look for: a search that matches a few contacts, and a state
    a share of them are in."""

    search: str
    state: str


def targets(client: httpx.Client, probe: Probe) -> list[Target]:
    inbox = client.get("/console/inbox")
    inbox.raise_for_status()
    ids = Page(inbox.text).contact_ids()
    if not ids:
        sys.exit("the inbox lists no contact links (/console/contacts/{id})")
    # The newest conversation: the one an operator opens first.
    contact_id = ids[0]
    conversation = client.get(f"/console/contacts/{contact_id}")
    conversation.raise_for_status()
    return [
        Target("overview", "/console/overview"),
        Target("inbox page 1", "/console/inbox"),
        deep_inbox_page(client),
        Target("inbox search", f"/console/inbox?{urlencode({'q': probe.search})}", probe.search),
        # No match: the search has to look at every contact to say so.
        Target("search, no match", f"/console/inbox?{urlencode({'q': 'zz-nobody'})}"),
        state_filter(inbox.text, probe.state),
        Target("conversation", f"/console/contacts/{contact_id}", f"contact {contact_id}"),
        timeline_fragment(conversation.text, contact_id),
        Target("audit", "/console/audit"),
    ]


@dataclass
class Timing:
    target: Target
    samples_ms: list[float]
    failures: list[str]

    def percentile(self, share: float) -> float:
        ordered = sorted(self.samples_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def time_page(client: httpx.Client, target: Target, rounds: int) -> Timing:
    samples: list[float] = []
    failures: list[str] = []
    client.get(target.path)  # warm: templates compiled, pages in the database's cache
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(target.path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or "/console/sign-in" in str(response.url):
            failures.append(f"{response.status_code} {response.url}")
        else:
            samples.append(elapsed)
    return Timing(target, samples, failures)


# -- the histories ---------------------------------------------------------------------------


def fill_demo(url: str, workdir: Path, contacts_count: int) -> Probe:
    """`dmpilot demo` into the database (its fans are fan000, fan001, …; the funnel has
    run its course for most of them)."""
    command = [sys.executable, "-m", "dmpilot", "demo", "--contacts", str(contacts_count)]
    if url.startswith("sqlite"):
        command += ["--file", make_url(url).database or ""]
    else:
        command.append("--into-database")
    subprocess.run(
        command,
        env=clean_env(DMPILOT_DATABASE_URL=url),
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    return Probe(search="fan005", state="stopped")


def fill_synthetic(url: str, contacts_count: int) -> Probe:
    """The audit benchmark's history, made to look like an inbox: each contact's last
    inbound time is its real last message, and some contacts are in handoff or customers."""
    store = Store.open(url)
    try:
        now = utcnow()
        generate(store, load_persona(), contacts_count, max(1, contacts_count // 100), now)
        last_in = (
            sa.select(sa.func.max(messages.c.created_at))
            .where(messages.c.contact_id == contacts.c.id, messages.c.direction == "in")
            .scalar_subquery()
        )
        with store.writing() as unit:
            unit.db.execute(sa.update(contacts).values(last_inbound_at=last_in))
            unit.db.execute(
                sa.update(contacts)
                .where(contacts.c.id % 97 == 0, contacts.c.stopped_at.is_(None))
                .values(
                    handoff_at=now,
                    handoff_until=now + timedelta(hours=24),
                    handoff_by="bench",
                    handoff_reason=HandoffReason.OPERATOR.value,
                )
            )
            unit.db.execute(
                sa.update(contacts)
                .where(contacts.c.id % 89 == 0, contacts.c.stopped_at.is_(None))
                .values(converted_at=now)
            )
    finally:
        store.close()
    return Probe(search=f"fan{contacts_count // 2}", state=ContactStatus.HANDOFF.value)


@contextmanager
def sqlite_database(workdir: Path) -> Iterator[str]:
    yield f"sqlite:///{workdir / f'console-{uuid.uuid4().hex[:6]}.db'}"


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


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    database: str
    history: str
    timings: list[Timing]
    peak_rss_mb: float
    fill_seconds: float


def measure(
    database: str,
    history: str,
    opened: AbstractContextManager[str],
    fill: Callable[[str], Probe],
    workdir: Path,
    rounds: int,
) -> Run:
    with opened as url:
        started = time.perf_counter()
        probe = fill(url)
        filled = time.perf_counter() - started
        print(f"{database} / {history}: history written in {filled:.1f} s", flush=True)
        with serve(url, workdir) as (base_url, pid), httpx.Client(base_url=base_url) as client:
            sign_in(client)
            timings = [time_page(client, target, rounds) for target in targets(client, probe)]
            peak = peak_rss_mb(pid)
    return Run(database, history, timings, peak, filled)


def report(runs: list[Run], rounds: int) -> bool:
    print(f"\n{rounds} rounds per page, sequential, one signed-in client")
    print(f"{'database':<11}{'history':<11}{'page':<19}{'p50 ms':>8}{'p99 ms':>8}  note")
    ok = True
    for run in runs:
        for timing in run.timings:
            p50, p99 = timing.percentile(0.5), timing.percentile(0.99)
            flags = []
            if timing.failures:
                ok = False
                flags.append(f"FAILED {len(timing.failures)}x: {timing.failures[0]}")
            if p99 > SLOW_MS:
                flags.append(f"SLOW (> {SLOW_MS:.0f} ms)")
            note = "; ".join(filter(None, [timing.target.note, *flags]))
            print(
                f"{run.database:<11}{run.history:<11}{timing.target.name:<19}"
                f"{p50:>8.1f}{p99:>8.1f}  {note}"
            )
        print(
            f"{run.database:<11}{run.history:<11}{'server peak RSS':<19}{run.peak_rss_mb:>8.0f} MB"
        )
    return ok


def postgres_answers(admin_url: str) -> bool:
    try:
        libpq = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
        psycopg.connect(libpq, connect_timeout=3).close()
        return True
    except psycopg.Error as exc:
        print(f"PostgreSQL not answering at {admin_url} ({exc.__class__.__name__})")
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--demo-contacts", type=int, default=60)
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dmpilot-console-bench-") as tmp:
        workdir = Path(tmp)
        databases: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [
            ("sqlite", lambda: sqlite_database(workdir))
        ]
        if args.postgres:
            if not postgres_answers(args.postgres_url):
                sys.exit(1)
            databases.append(("postgresql", lambda: postgres_database(args.postgres_url)))
        histories: list[tuple[str, Callable[[str], Probe]]] = [
            ("demo", lambda url: fill_demo(url, workdir, args.demo_contacts))
        ]
        if not args.skip_synthetic:
            histories.append(
                (f"{args.contacts // 1000}k", lambda url: fill_synthetic(url, args.contacts))
            )
        runs = [
            measure(database, history, opened(), fill, workdir, args.rounds)
            for database, opened in databases
            for history, fill in histories
        ]
    ok = report(runs, args.rounds)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
