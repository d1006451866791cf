"""Webhook throughput and latency: dmpilot's real server against baselines, in one run.

    python bench/webhook.py [--rounds 3] [--duration 10] [--connections 32]
                            [--backends sqlite postgres] [--postgres URL]
    python bench/webhook.py --delivery push [--sends-per-second 20 100] [--send-latency-ms 50]
    python bench/webhook.py --soak 20000        # RSS while 20,000 messages are answered
    python bench/webhook.py --scale 1 2 4       # serve --workers N, SQLite and PostgreSQL

The default compares, interleaved over several rounds (each round runs every server once,
in a rotated order, each on a fresh database), on SQLite and on PostgreSQL:

- `bare`: a FastAPI endpoint that parses the same body and does no I/O (bench/bare_app.py);
- `1 tx` and `3 tx`: the same request doing one or three durable transactions through
  SQLAlchemy with dmpilot's own engine, pragmas and pool (bench/baseline_app.py);
- `inline`: dmpilot answering with the reply (scripted brain, coalescing off);
- `push ack`: dmpilot in push delivery, the webhook storing each message and
  acknowledging `queued`, with no worker running (the turns wait in the queue);
  `push+worker`: the same with serve's in-process worker running the turns meanwhile and
  sending to a fake ManyChat (bench/fake_manychat.py), on the same cores.

Each run is one uvicorn process driven by wrk (every request a new message; contacts
return every 5000 requests). It prints, as medians over the rounds: req/s, p50/p99 under
load, CPU milliseconds per request, peak RSS, the time from start to a ready server, and
the unloaded latency (one request at a time); then dmpilot's ratios and the targets.

`--delivery push` measures the worker instead: the same wrk load, with numeric
subscriber ids, once per account send rate (DMPILOT_SENDS_PER_SECOND, a fresh server and
database each): ack req/s and p50/p99, the worker's deliveries/s over the loaded window,
the backlog when the load stops, the drain time and the server's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
MANYCHAT_KEY = "1000:bench-secret"  # ManyChat's <page_id>:<secret> shape; the fake checks it
ACK_P99_TARGET_MS = 20.0
CATCH_UP_SECONDS = 5.0  # "keeps up": the backlog is gone this soon after the load stops


@dataclass
class PushResult:
    sends_per_second: int  # the account's send rate limit given to the worker
    rps: float  # acks per second
    p50_ms: float
    p99_ms: float
    queued: int  # acks saying "queued" that wrk counted: each one owes a reply
    other: int  # 200s that were not "queued" (should be 0)
    errors: int  # non-200 answers and socket errors
    stored: int  # the run's messages in the database (wrk stops with requests in flight)
    window_seconds: float
    sent_in_window: int  # replies to the run's contacts the fake accepted while wrk ran
    turns_owed_end: int  # when wrk stopped: messages whose turn has not run yet
    outbox_waiting_end: int  # ...and replies pending or sending in the outbox
    oldest_pending_end_s: float  # /metrics dmpilot_outbox_oldest_pending_seconds
    sent_total: int  # replies to the run's contacts when the drain ended
    drain_seconds: float | None  # after wrk stopped; None when the timeout came first
    rejected: int  # sends the fake refused
    duplicates: int  # the same text to the same subscriber twice
    outbox: dict[str, int]  # the run's deliveries by state, at the end
    peak_rss_mb: float
    rss_start_mb: float
    rss_end_mb: float
    logged: dict[str, int]  # the server's log records (warning and above), by kind

    @property
    def backlog_end(self) -> int:
        return self.turns_owed_end + self.outbox_waiting_end

    @property
    def deliveries_per_second(self) -> float:
        return self.sent_in_window / self.window_seconds

    @property
    def drain_rate(self) -> float | None:
        """Deliveries per second once the load stopped (the worker alone)."""
        if not self.drain_seconds:
            return None
        return (self.sent_total - self.sent_in_window) / self.drain_seconds

    @property
    def keeps_up(self) -> bool:
        caught_up = self.drain_seconds is not None and self.drain_seconds <= CATCH_UP_SECONDS
        return self.deliveries_per_second >= self.rps or caught_up


def dmpilot_env(database: str) -> dict[str, str]:
    """dmpilot as every run measures it: scripted brain, coalescing off, budget lifted."""
    return {
        "DMPILOT_DATABASE_URL": database,
        "DMPILOT_COALESCE_SECONDS": "0",
        "DMPILOT_BRAIN": "scripted",
        # every request here may be a new contact: lift the daily engagement budget
        "DMPILOT_DAILY_NEW_CONVERSATIONS": "1000000",
        "DMPILOT_LOG_LEVEL": "warning",
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_up(url: str, process: subprocess.Popen[bytes], method: str = "POST") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited early with {process.returncode}")
        try:
            if method == "POST":
                httpx.post(
                    url, json={"subscriber": {"id": "warmup"}, "last_input_text": "hi"}, timeout=2
                )
            else:
                httpx.get(url, timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit(f"server at {url} did not come up")


def _status_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


def run_wrk(
    url: str, connections: int, duration: int, tag: str, *script_args: str
) -> tuple[float, float, float, list[int]]:
    """req/s, p50 ms, p99 ms and [should_send, skipped, errors, queued] answers."""
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(BENCH / "webhook.lua"),
        url,
        "--",
        tag,
        *script_args,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = re.search(r"LATENCY p50=([\d.]+) p99=([\d.]+)", out)
    counts = re.search(r"COUNTS sent=(\d+) skipped=(\d+) errors=(\d+) queued=(\d+)", out)
    assert latency and counts, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    values = [int(counts.group(i)) for i in (1, 2, 3, 4)]
    if non_2xx:
        values[2] = max(values[2], int(non_2xx.group(1)))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        values[2] += sum(int(n) for n in socket.groups())
    return rps, float(latency.group(1)), float(latency.group(2)), values


def start(name: str, command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    with (cwd / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def fake_count(fake: str, tag: str = "") -> dict[str, Any]:
    """The fake's counters; `matching` counts the sends to one run's subscribers."""
    counts: dict[str, Any] = httpx.get(f"{fake}/count", params={"prefix": tag}, timeout=5).json()
    return counts


def oldest_pending_seconds(server: str) -> float:
    text = httpx.get(f"{server}/metrics", timeout=10).text
    oldest = re.search(r"^dmpilot_outbox_oldest_pending_seconds (\S+)$", text, re.M)
    return float(oldest.group(1)) if oldest else float("nan")


@dataclass
class RunTables:
    stored: int  # the run's inbound messages
    owed: int  # the run's contacts still owed a turn
    states: dict[str, int]  # the run's deliveries by state

    @property
    def settled(self) -> bool:
        """Nothing more will be sent for the run: no turn owed, nothing pending or sending."""
        return not self.owed and not self.states.get("pending") and not self.states.get("sending")


class Tables:
    """dmpilot's tables, read from the bench (one engine per measured server)."""

    def __init__(self, database: str) -> None:
        import sqlalchemy as sa

        url = sa.make_url(database)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        self.sa = sa
        self.engine = sa.create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def run(self, tag: str) -> RunTables:
        """One run's rows, told apart by its subscriber ids (they start with its tag): a
        database given with --database may hold other runs. Turns owed are read before
        the deliveries, so a turn committing in between is seen on one side or the other."""
        text, prefix = self.sa.text, {"prefix": f"{tag}%"}
        with self.engine.connect() as db:
            owed = db.scalar(
                text(
                    "SELECT count(*) FROM contacts "
                    "WHERE turn_due_at IS NOT NULL AND external_id LIKE :prefix"
                ),
                prefix,
            )
            states = db.execute(
                text(
                    "SELECT state, count(*) FROM deliveries WHERE recipient LIKE :prefix "
                    "GROUP BY state"
                ),
                prefix,
            ).all()
            stored = db.scalar(
                text(
                    "SELECT count(*) FROM messages m JOIN contacts c ON c.id = m.contact_id "
                    "WHERE m.direction = 'in' AND c.external_id LIKE :prefix"
                ),
                prefix,
            )
        return RunTables(int(stored or 0), int(owed or 0), {state: int(n) for state, n in states})


def wait_drained(
    fake: str, tables: Tables, tag: str, acked: int, timeout: float
) -> tuple[float | None, RunTables]:
    """Seconds until the run is settled: every acked message answered at the fake and
    nothing owed or queued in dmpilot's tables; None at the timeout."""
    started = time.monotonic()
    while True:
        rows = tables.run(tag)
        if rows.settled and fake_count(fake, tag)["matching"] >= acked:
            return time.monotonic() - started, rows
        if time.monotonic() - started >= timeout:
            return None, rows
        time.sleep(0.1)


def log_records(path: Path) -> dict[str, int]:
    """The server's JSON log records by level, message and exception (the last line of
    its traceback); the start-up banner is not JSON and is left out."""
    kinds: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        message = " ".join(str(record.get("message")).split())
        kind = f"{record.get('level')}: {message}"
        error = str(record.get("error") or "").strip()
        if error:
            kind += f" ({error.splitlines()[-1][:200]})"
        kinds[kind] += 1
    return dict(kinds.most_common())


def numeric_tag() -> str:
    """Digits that never start with 0: ManyChat subscriber ids are integers."""
    return str(random.randint(100_000, 999_999))


def measure_push(
    rate: int,
    base_env: dict[str, str],
    database: str,
    workdir: Path,
    args: argparse.Namespace,
) -> PushResult:
    fake_port, port = free_port(), free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    server = f"http://127.0.0.1:{port}"
    url = f"{server}/webhooks/manychat"
    fake_process = start(
        f"fake-manychat-{rate}",
        [
            sys.executable,
            str(BENCH / "fake_manychat.py"),
            "--port",
            str(fake_port),
            "--latency-ms",
            str(args.send_latency_ms),
            "--api-key",
            MANYCHAT_KEY,
        ],
        base_env,
        workdir,
    )
    env = (
        base_env
        | dmpilot_env(database)
        | {
            "DMPILOT_DELIVERY": "push",
            "DMPILOT_MANYCHAT_API_KEY": MANYCHAT_KEY,
            "DMPILOT_MANYCHAT_API_URL": fake,
            "DMPILOT_SENDS_PER_SECOND": str(rate),
        }
    )
    name = f"dmpilot-push-{rate}"
    process = start(
        name, [sys.executable, "-m", "dmpilot", "serve", "--port", str(port)], env, workdir
    )
    tables = Tables(database)
    try:
        wait_up(f"{fake}/count", fake_process, method="GET")
        wait_up(f"{server}/healthz", process, method="GET")
        # Warm-up, discarded; its backlog drains before the measured run starts.
        warm = numeric_tag()
        *_, (_, _, _, warm_acked) = run_wrk(url, args.connections, 2, warm, "numeric")
        drained, _ = wait_drained(fake, tables, warm, warm_acked, args.drain_timeout)
        if drained is None:
            sys.exit(f"the warm-up's backlog did not drain in {args.drain_timeout:g} s")

        tag = numeric_tag()
        while tag == warm:
            tag = numeric_tag()
        rss_start = rss_mb(process.pid)
        started = time.monotonic()
        rps, p50, p99, (sent, skipped, errors, queued) = run_wrk(
            url, args.connections, args.duration, tag, "numeric"
        )
        window = time.monotonic() - started
        in_window = fake_count(fake, tag)["matching"]
        at_end = tables.run(tag)
        oldest = oldest_pending_seconds(server)
        rss_end = rss_mb(process.pid)

        drain, final = wait_drained(fake, tables, tag, queued, args.drain_timeout)
        counts = fake_count(fake, tag)
        peak = peak_rss_mb(process.pid)
    finally:
        tables.close()
        stop(process)
        stop(fake_process)
    return PushResult(
        sends_per_second=rate,
        rps=rps,
        p50_ms=p50,
        p99_ms=p99,
        queued=queued,
        other=sent + skipped - queued,
        errors=errors,
        stored=final.stored,
        window_seconds=window,
        sent_in_window=in_window,
        turns_owed_end=at_end.owed,
        outbox_waiting_end=at_end.states.get("pending", 0) + at_end.states.get("sending", 0),
        oldest_pending_end_s=oldest,
        sent_total=counts["matching"],
        drain_seconds=drain,
        rejected=counts["rejected"],
        duplicates=counts["duplicates"],
        outbox=final.states,
        peak_rss_mb=peak,
        rss_start_mb=rss_start,
        rss_end_mb=rss_end,
        logged=log_records(workdir / f"{name}.log"),
    )


def report_push(results: list[PushResult], args: argparse.Namespace, backend: str) -> None:
    print(
        f"\nwebhook benchmark, push delivery: {args.connections} connections, "
        f"{args.duration} s, database {backend}, {os.cpu_count()} cores, fake ManyChat "
        f"answering in {args.send_latency_ms:g} ms"
    )
    print(
        f"{'sends/s cap':<12}{'acks/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'queued':>8}"
        f"{'errors':>7}{'deliv/s':>9}{'backlog':>9}{'drain s':>9}{'drain/s':>9}{'peak MB':>9}"
    )
    for r in results:
        drain = f"{r.drain_seconds:.1f}" if r.drain_seconds is not None else "timeout"
        after = f"{r.drain_rate:.1f}" if r.drain_rate is not None else "-"
        print(
            f"{r.sends_per_second:<12}{r.rps:>8.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}"
            f"{r.queued:>8}{r.errors:>7}{r.deliveries_per_second:>9.1f}{r.backlog_end:>9}"
            f"{drain:>9}{after:>9}{r.peak_rss_mb:>9.0f}"
        )
    print(
        "acks/s, p50, p99, queued, errors: wrk against the webhook; deliv/s: replies the fake "
        "received per second while wrk ran; backlog: the run's messages not yet answered "
        "when wrk stopped (turns owed + replies pending or sending); drain s: from then "
        "until every reply was sent; drain/s: deliveries per second meanwhile"
    )
    for r in results:
        print(f"\nat {r.sends_per_second} sends/s:")
        print(
            f"  backlog at the end of the load: {r.turns_owed_end} turns owed + "
            f"{r.outbox_waiting_end} replies pending or sending (oldest pending due "
            f"{r.oldest_pending_end_s:.1f} s)"
        )
        states = ", ".join(f"{k} {v}" for k, v in sorted(r.outbox.items())) or "none"
        print(
            f"  {r.queued} acks counted by wrk, {r.stored} messages stored (wrk stops with "
            f"requests in flight); replies at the fake {r.sent_total}, refused {r.rejected}, "
            f"duplicates {r.duplicates}; outbox: {states}; other 200 answers {r.other}"
        )
        print(
            f"  server RSS during the measured run: {r.rss_start_mb:.0f} MB -> "
            f"{r.rss_end_mb:.0f} MB"
        )
        met = r.p99_ms < ACK_P99_TARGET_MS
        print(
            f"  target ack p99 < {ACK_P99_TARGET_MS:g} ms at {args.connections} connections "
            f"on {backend}: {'met' if met else 'NOT met'} (p99 {r.p99_ms:.1f} ms)"
        )
        gone = (
            f"gone {r.drain_seconds:.1f} s after the load"
            if r.drain_seconds is not None
            else f"not gone {args.drain_timeout:g} s after the load"
        )
        print(
            "  target the worker keeps up with the webhook's accepted rate: "
            f"{'met' if r.keeps_up else 'NOT met'} ({r.deliveries_per_second:.1f} "
            f"deliveries/s against {r.rps:.0f} acks/s; backlog {gone})"
        )
        if r.drain_rate is not None:
            print(
                f"  the worker alone, once the load stopped: {r.drain_rate:.1f} deliveries/s, "
                f"{r.drain_rate / r.sends_per_second:.0%} of the {r.sends_per_second}/s "
                "account limit"
            )
        for kind, count in r.logged.items():
            print(f"  server log: {count} x {kind}")


def main_push(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="dmpilot-bench-") as tmp:
        workdir = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DMPILOT_")}
        base_env.pop("ANTHROPIC_API_KEY", None)
        results = []
        for rate in args.sends_per_second:
            # a new database per rate (a given --database is shared; the runs' subscriber
            # ids tell them apart)
            database = args.database or f"sqlite:///{workdir / f'bench-{rate}.db'}"
            results.append(measure_push(rate, base_env, database, workdir, args))
    backend = (args.database or "sqlite:").split(":", 1)[0]
    report_push(results, args, backend)


# -- the comparison: dmpilot against baselines, interleaved -------------------------------

SERVERS = ("bare", "1 tx", "3 tx", "inline", "push ack", "push+worker")
UNLOADED_REQUESTS = 200
PACED = ("1 tx", "push ack")  # the acknowledgement and its baseline, at a steady rate
PACED_SECONDS = 6.0
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    server: str
    backend: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_ms_per_request: float
    peak_rss_mb: float
    ready_seconds: float  # from the process start to its first answer
    unloaded_p50_ms: float  # one request at a time
    paced_p99_ms: float | None = None  # at --paced-rate requests/s, sent on a schedule


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def paced_p99(url: str, tag: str, rate: float, seconds: float, numeric: bool) -> float:
    """p99 milliseconds at a steady `rate` of new messages, sent on a schedule whatever the
    answers (open loop: a slow answer does not slow the sender down, so queueing shows).
    Each latency counts from when its request was due, not from when it left."""

    async def run() -> list[float]:
        timings: list[float] = []
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def one(n: int, due: float) -> None:
                contact = f"{tag}{n:06d}" if numeric else f"p{tag}-{n}"
                body = {"subscriber": {"id": contact}, "last_input_text": f"paced {n}"}
                response = await client.post(url, json=body)
                response.raise_for_status()
                timings.append((time.perf_counter() - due) * 1000)

            tasks = []
            start_at = time.perf_counter()
            for n in range(int(rate * seconds)):
                due = start_at + n / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(one(n, due)))
            await asyncio.gather(*tasks)
        return timings

    timings = sorted(asyncio.run(run()))
    return timings[min(len(timings) - 1, int(len(timings) * 0.99))]


def unloaded_p50(url: str, tag: str) -> float:
    """Milliseconds per request, one at a time, each a new contact's first message."""
    timings = []
    with httpx.Client(timeout=30) as client:
        for n in range(UNLOADED_REQUESTS):
            body = {"subscriber": {"id": f"u{tag}{n}"}, "last_input_text": f"hello {n}"}
            started = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


@contextlib.contextmanager
def fresh_database(backend: str, workdir: Path, admin: str) -> Iterator[str]:
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in workdir.glob(f"{path.name}*"):
                leftover.unlink()
        return
    import psycopg
    import sqlalchemy as sa

    name = f"dmpilot_bench_{uuid.uuid4().hex[:10]}"
    url = sa.make_url(admin)
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_answers(admin: str) -> bool:
    import psycopg
    import sqlalchemy as sa

    libpq = sa.make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(libpq, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def server_command(
    server: str, port: int, database: str, base_env: dict[str, str], fake: str
) -> tuple[list[str], dict[str, str]]:
    uvicorn = [sys.executable, "-m", "uvicorn", "--port", str(port), "--log-level", "warning"]
    uvicorn += ["--no-access-log", "--app-dir", str(BENCH)]
    if server == "bare":
        return [*uvicorn, "bare_app:app"], base_env
    if server in ("1 tx", "3 tx"):
        env = base_env | {
            "BASELINE_DATABASE_URL": database,
            "BASELINE_TRANSACTIONS": server[0],
        }
        return [*uvicorn, "baseline_app:app"], env
    env = base_env | dmpilot_env(database)
    if server.startswith("push"):
        env |= {
            # "push ack": the acknowledgement alone (no worker runs while it is measured:
            # the turns wait in the queue); "push+worker": serve's in-process worker runs
            # them meanwhile, on the same cores.
            "DMPILOT_WORKER": "false" if server == "push ack" else "true",
            "DMPILOT_DELIVERY": "push",
            "DMPILOT_MANYCHAT_API_KEY": MANYCHAT_KEY,
            "DMPILOT_MANYCHAT_API_URL": fake,
            "DMPILOT_SENDS_PER_SECOND": "100",
        }
    return [sys.executable, "-m", "dmpilot", "serve", "--port", str(port)], env


def measure_run(
    server: str,
    backend: str,
    database: str,
    base_env: dict[str, str],
    workdir: Path,
    fake: str,
    args: argparse.Namespace,
) -> Run:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/manychat"
    command, env = server_command(server, port, database, base_env, fake)
    name = f"{server.replace(' ', '-')}-{backend}"
    started = time.monotonic()
    process = start(name, command, env, workdir)
    try:
        wait_up(url, process)
        ready = time.monotonic() - started
        numeric = ["numeric"] if server.startswith("push") else []
        warm = numeric_tag()
        run_wrk(url, args.connections, 2, warm, *numeric)  # warm-up, discarded
        unloaded = unloaded_p50(url, numeric_tag())
        tag = numeric_tag()
        cpu_before = cpu_seconds(process.pid)
        wall = time.monotonic()
        rps, p50, p99, (sent, skipped, errors, _) = run_wrk(
            url, args.connections, args.duration, tag, *numeric
        )
        requests = max(1, round(rps * (time.monotonic() - wall)))
        cpu = cpu_seconds(process.pid) - cpu_before
        paced = None
        if server in PACED:
            paced = paced_p99(url, numeric_tag(), args.paced_rate, PACED_SECONDS, bool(numeric))
        return Run(
            server=server,
            backend=backend if server != "bare" else "-",
            rps=rps,
            p50_ms=p50,
            p99_ms=p99,
            requests=sent + skipped,
            errors=errors,
            cpu_ms_per_request=cpu * 1000 / requests,
            peak_rss_mb=peak_rss_mb(process.pid),
            ready_seconds=ready,
            unloaded_p50_ms=unloaded,
            paced_p99_ms=paced,
        )
    finally:
        stop(process)


def median_runs(runs: list[Run]) -> Run:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    first = runs[0]
    return Run(
        server=first.server,
        backend=first.backend,
        rps=med([r.rps for r in runs]),
        p50_ms=med([r.p50_ms for r in runs]),
        p99_ms=med([r.p99_ms for r in runs]),
        requests=sum(r.requests for r in runs),
        errors=sum(r.errors for r in runs),
        cpu_ms_per_request=med([r.cpu_ms_per_request for r in runs]),
        peak_rss_mb=max(r.peak_rss_mb for r in runs),
        ready_seconds=med([r.ready_seconds for r in runs]),
        unloaded_p50_ms=med([r.unloaded_p50_ms for r in runs]),
        paced_p99_ms=(
            med([r.paced_p99_ms for r in runs if r.paced_p99_ms is not None])
            if first.paced_p99_ms is not None
            else None
        ),
    )


def main_compare(args: argparse.Namespace) -> None:
    backends = list(args.backends)
    if "postgres" in backends and not postgres_answers(args.postgres):
        print(f"PostgreSQL is not answering at {args.postgres}: measuring SQLite only")
        backends.remove("postgres")
    runs: dict[tuple[str, str], list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="dmpilot-bench-") as tmp:
        workdir = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DMPILOT_")}
        base_env.pop("ANTHROPIC_API_KEY", None)
        fake_port = free_port()
        fake = f"http://127.0.0.1:{fake_port}"
        fake_process = start(
            "fake-manychat",
            [
                sys.executable,
                str(BENCH / "fake_manychat.py"),
                *("--port", str(fake_port), "--latency-ms", "5", "--api-key", MANYCHAT_KEY),
            ],
            base_env,
            workdir,
        )
        try:
            wait_up(f"{fake}/count", fake_process, method="GET")
            plan = [("bare", "-")] if "bare" in args.servers else []
            plan += [
                (server, backend)
                for backend in backends
                for server in SERVERS[1:]
                if server in args.servers
            ]
            for round_number in range(args.rounds):
                shift = round_number % len(plan)
                for server, backend in plan[shift:] + plan[:shift]:
                    store = backend if backend != "-" else "sqlite"
                    with fresh_database(store, workdir, args.postgres) as database:
                        run = measure_run(server, store, database, base_env, workdir, fake, args)
                    runs.setdefault((server, backend), []).append(run)
                    print(
                        f"round {round_number + 1}: {server:<12} {backend:<9}"
                        f"{run.rps:>8.0f} req/s  p99 {run.p99_ms:.1f} ms",
                        flush=True,
                    )
        finally:
            stop(fake_process)
    report_compare({key: median_runs(value) for key, value in runs.items()}, backends, args)


def report_compare(
    results: dict[tuple[str, str], Run], backends: list[str], args: argparse.Namespace
) -> None:
    print(
        f"\nwebhook benchmark: {args.rounds} rounds x {args.duration} s, {args.connections} "
        f"connections, {os.cpu_count()} cores; medians over the rounds"
    )
    print(
        f"{'server':<12}{'database':<10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>9}"
        f"{'CPU ms/req':>11}{'unloaded p50':>13}{'ready s':>8}{'peak MB':>8}{'errors':>7}"
        f"{'paced p99':>10}"
    )
    for r in results.values():
        paced = "" if r.paced_p99_ms is None else f"{r.paced_p99_ms:>8.1f}ms"
        print(
            f"{r.server:<12}{r.backend:<10}{r.rps:>8.0f}{r.p50_ms:>8.1f}{r.p99_ms:>9.1f}"
            f"{r.cpu_ms_per_request:>11.2f}{r.unloaded_p50_ms:>11.1f}ms{r.ready_seconds:>8.1f}"
            f"{r.peak_rss_mb:>8.0f}{r.errors:>7}{paced}"
        )
    print(
        f"paced p99: {args.paced_rate:g} new messages/s for {PACED_SECONDS:g} s, sent on a "
        "schedule (open loop); under the saturating load above, p99 is mostly queueing: "
        f"{args.connections} connections / req/s"
    )
    print()
    limits = {"sqlite": (0.5, 4.0), "postgres": (0.4, 8.0)}
    if len(results) < 1 + len(backends) * (len(SERVERS) - 1):
        return  # a subset: no ratios
    for backend in backends:
        base1, base3 = results[("1 tx", backend)], results[("3 tx", backend)]
        inline, ack = results[("inline", backend)], results[("push ack", backend)]
        ratio_floor, unloaded_limit = limits[backend]
        checks = [
            (
                f"inline / 3 tx >= {ratio_floor}",
                inline.rps / base3.rps >= ratio_floor,
                f"{inline.rps / base3.rps:.2f}",
            ),
            ("push ack / 1 tx >= 0.7", ack.rps / base1.rps >= 0.7, f"{ack.rps / base1.rps:.2f}"),
            ("push ack p99 < 20 ms, saturated", ack.p99_ms < 20, f"{ack.p99_ms:.1f} ms"),
            (
                f"push ack p99 < 20 ms at {args.paced_rate:g}/s",
                ack.paced_p99_ms is not None and ack.paced_p99_ms < 20,
                f"{ack.paced_p99_ms or 0:.1f} ms",
            ),
            (
                f"unloaded inline p50 <= {unloaded_limit:g} ms",
                inline.unloaded_p50_ms <= unloaded_limit,
                f"{inline.unloaded_p50_ms:.1f} ms",
            ),
            ("start to ready < 3 s", inline.ready_seconds < 3, f"{inline.ready_seconds:.1f} s"),
        ]
        if backend == "postgres":
            ratio = inline.p99_ms / base3.p99_ms
            checks.append(("inline p99 <= 3 x 3 tx p99", ratio <= 3, f"{ratio:.1f} x"))
        for name, met, value in checks:
            print(f"{backend:<9} {name:<32} {'met' if met else 'NOT met':<8} ({value})")


# -- a soak (memory stays flat) and several processes ------------------------------------


def main_soak(args: argparse.Namespace) -> None:
    """dmpilot inline on SQLite, `--soak N` messages in 2-second wrk runs; RSS after each."""
    with tempfile.TemporaryDirectory(prefix="dmpilot-bench-") as tmp:
        workdir = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DMPILOT_")}
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhooks/manychat"
        command, env = server_command(
            "inline", port, f"sqlite:///{workdir / 'soak.db'}", base_env, ""
        )
        process = start("soak", command, env, workdir)
        samples: list[tuple[int, float]] = []
        try:
            wait_up(url, process)
            answered = 0
            while answered < args.soak:
                *_, (sent, skipped, _, _) = run_wrk(url, args.connections, 2, numeric_tag())
                answered += sent + skipped
                samples.append((answered, rss_mb(process.pid)))
            peak = peak_rss_mb(process.pid)
        finally:
            stop(process)
    print(
        f"\nsoak: {answered} messages to dmpilot inline on SQLite, {args.connections} connections"
    )
    print(f"{'messages':>10}{'RSS MB':>9}")
    for count, rss in samples:
        print(f"{count:>10}{rss:>9.0f}")
    first, last = samples[0][1], samples[-1][1]
    print(f"RSS after the first run {first:.0f} MB, at the end {last:.0f} MB, peak {peak:.0f} MB")


def main_scale(args: argparse.Namespace) -> None:
    """dmpilot inline with `serve --workers N` for each N, on each backend: req/s, p99 and,
    on PostgreSQL, the connections the processes hold at the end of the run."""
    import psycopg
    import sqlalchemy as sa

    backends = [b for b in args.backends if b == "sqlite" or postgres_answers(args.postgres)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="dmpilot-bench-") as tmp:
        workdir = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DMPILOT_")}
        for backend in backends:
            for processes in args.scale:
                with fresh_database(backend, workdir, args.postgres) as database:
                    port = free_port()
                    url = f"http://127.0.0.1:{port}/webhooks/manychat"
                    command, env = server_command("inline", port, database, base_env, "")
                    command += ["--workers", str(processes)]
                    process = start(f"scale-{backend}-{processes}", command, env, workdir)
                    held: int | None = None
                    try:
                        wait_up(url, process)
                        run_wrk(url, args.connections, 2, numeric_tag())  # warm-up
                        rps, _, p99, _ = run_wrk(
                            url, args.connections, args.duration, numeric_tag()
                        )
                        if backend == "postgres":
                            name = sa.make_url(database).database
                            admin = sa.make_url(args.postgres).set(drivername="postgresql")
                            libpq = admin.render_as_string(hide_password=False)
                            with psycopg.connect(libpq) as conn:
                                row = conn.execute(
                                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                    (name,),
                                ).fetchone()
                            held = int(row[0]) if row else 0
                    finally:
                        stop(process)
                rows.append((backend, processes, rps, p99, held))
    print(f"\nseveral processes: dmpilot inline, {args.connections} connections")
    print(f"{'database':<10}{'processes':>10}{'req/s':>8}{'p99 ms':>9}{'connections held':>18}")
    for backend, processes, rps, p99, held_count in rows:
        shown = "-" if held_count is None else str(held_count)
        print(f"{backend:<10}{processes:>10}{rps:>8.0f}{p99:>9.1f}{shown:>18}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="compare: rounds of every server")
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=["sqlite", "postgres"],
        default=["sqlite", "postgres"],
        help="compare: the databases to measure on",
    )
    parser.add_argument(
        "--soak", type=int, metavar="N", help="send N messages to dmpilot inline, RSS as it goes"
    )
    parser.add_argument(
        "--scale",
        type=int,
        nargs="+",
        metavar="N",
        help="dmpilot inline with serve --workers N, for each N (on --backends)",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=SERVERS,
        default=list(SERVERS),
        help="compare: which servers to run (the targets need them all)",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="compare: a PostgreSQL server where the bench may create and drop databases",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=100.0,
        help="compare: new messages per second for the paced (open-loop) p99 of push ack "
        "and the 1 tx baseline",
    )
    parser.add_argument(
        "--database", default=None, help="database URL (default: a new SQLite file)"
    )
    parser.add_argument(
        "--delivery",
        choices=["inline", "push"],
        default="inline",
        help="inline: compare dmpilot with the baselines; push: acks, the worker and a "
        "fake ManyChat API at several send rates",
    )
    parser.add_argument(
        "--sends-per-second",
        type=int,
        nargs="+",
        default=[20, 100],
        metavar="N",
        help="push: the account's send rate (DMPILOT_SENDS_PER_SECOND, 1-100), one run each",
    )
    parser.add_argument(
        "--send-latency-ms",
        type=float,
        default=50.0,
        help="push: how long the fake ManyChat takes to answer a send",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=600.0,
        help="push: seconds to wait for the backlog to drain after the load",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    if args.delivery == "push":
        if not all(1 <= rate <= 100 for rate in args.sends_per_second):
            parser.error("--sends-per-second takes values from 1 to 100 (dmpilot's range)")
        main_push(args)
        return

    if args.soak:
        main_soak(args)
    elif args.scale:
        main_scale(args)
    else:
        main_compare(args)


if __name__ == "__main__":
    main()
