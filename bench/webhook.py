"""Webhook throughput: dmpilot's real server against a bare FastAPI endpoint, same run, same load.

    python bench/webhook.py [--connections 32] [--duration 10] [--database URL]

Both servers run as one uvicorn process; wrk (apt-get install wrk) drives them with the
same script (every request a new message; contacts return every 5000 requests). dmpilot
runs on the embedded default: SQLite, scripted brain, coalescing off. Prints requests/s,
p50/p99, the ratio and the server's peak memory.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    sent: int
    skipped: int
    errors: int
    peak_rss_mb: float
    rss_start_mb: float
    rss_end_mb: float


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited early with {process.returncode}")
        try:
            httpx.post(
                url, json={"subscriber": {"id": "warmup"}, "last_input_text": "hi"}, timeout=2
            )
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
    url: str, connections: int, duration: int, tag: str
) -> tuple[float, float, float, list[int]]:
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
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = re.search(r"LATENCY p50=([\d.]+) p99=([\d.]+)", out)
    counts = re.search(r"COUNTS sent=(\d+) skipped=(\d+) errors=(\d+)", out)
    assert latency and counts, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    values = [int(counts.group(i)) for i in (1, 2, 3)]
    if non_2xx:
        values[2] = max(values[2], int(non_2xx.group(1)))
    return rps, float(latency.group(1)), float(latency.group(2)), values


def measure(
    name: str,
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    port: int,
    connections: int,
    duration: int,
) -> Result:
    url = f"http://127.0.0.1:{port}/webhooks/manychat"
    log = (cwd / f"{name}.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_up(url, process)
        run_wrk(url, connections, 2, f"warm-{uuid.uuid4().hex[:6]}")  # warm-up, discarded
        rss_start = rss_mb(process.pid)
        rps, p50, p99, (sent, skipped, errors) = run_wrk(
            url, connections, duration, uuid.uuid4().hex[:8]
        )
        rss_end = rss_mb(process.pid)
        return Result(
            name,
            rps,
            p50,
            p99,
            sent,
            skipped,
            errors,
            peak_rss_mb(process.pid),
            rss_start,
            rss_end,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument(
        "--database", default=None, help="database URL (default: a new SQLite file)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    with tempfile.TemporaryDirectory(prefix="dmpilot-bench-") as tmp:
        workdir = Path(tmp)
        database = args.database or f"sqlite:///{workdir / 'bench.db'}"
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DMPILOT_")}
        base_env.pop("ANTHROPIC_API_KEY", None)
        bare_port, real_port = free_port(), free_port()
        bare = measure(
            "bare FastAPI",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--app-dir",
                str(BENCH),
            ],
            base_env,
            workdir,
            bare_port,
            args.connections,
            args.duration,
        )
        env = base_env | {
            "DMPILOT_DATABASE_URL": database,
            "DMPILOT_COALESCE_SECONDS": "0",
            "DMPILOT_BRAIN": "scripted",
            # every request here may be a new contact: lift the daily engagement budget
            "DMPILOT_DAILY_NEW_CONVERSATIONS": "100000000",
            "DMPILOT_LOG_LEVEL": "warning",
        }
        real = measure(
            "dmpilot",
            [sys.executable, "-m", "dmpilot", "serve", "--port", str(real_port)],
            env,
            workdir,
            real_port,
            args.connections,
            args.duration,
        )

    backend = database.split(":", 1)[0]
    print(
        f"\nwebhook benchmark: {args.connections} connections, {args.duration} s, "
        f"database {backend}, {os.cpu_count()} cores"
    )
    print(
        f"{'server':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'sent':>9}{'skipped':>9}"
        f"{'errors':>8}{'peak MB':>9}"
    )
    for r in (bare, real):
        print(
            f"{r.name:<14}{r.rps:>10.0f}{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}{r.sent:>9}"
            f"{r.skipped:>9}{r.errors:>8}{r.peak_rss_mb:>9.0f}"
        )
    print(f"ratio dmpilot / bare: {real.rps / bare.rps:.2f}  (target >= 0.5)")
    for r in (bare, real):
        print(
            f"{r.name} RSS during the measured run: {r.rss_start_mb:.0f} MB -> "
            f"{r.rss_end_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
