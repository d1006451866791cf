"""Shared test helpers: inbound builders, real server processes, PostgreSQL databases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict, Unpack

import httpx
import psycopg
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import make_url

from dmpilot.bootstrap import System, bootstrap
from dmpilot.brains import Brain, BrainError, BrainReply, BrainRequest, ProbeResult, ScriptedBrain
from dmpilot.domain.commands import ReceiveMessage
from dmpilot.domain.control import ControlState
from dmpilot.domain.decision import Decision
from dmpilot.domain.delivery import DeliveryMode, RetryPolicy
from dmpilot.domain.inbound import Inbound, InboundKind, classify
from dmpilot.domain.persona import Persona
from dmpilot.domain.ports import Sender
from dmpilot.engine import EngineConfig
from dmpilot.personas import bundled_persona_path
from dmpilot.runtime import ManualClock, SystemRandom
from dmpilot.settings import Settings
from dmpilot.store import Store
from dmpilot.store.database import create_db_engine
from dmpilot.worker import Worker

POSTGRES_ADMIN_URL = os.environ.get(
    "DMPILOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
T0 = datetime(2026, 11, 1, 12, 0, 0)
TOKEN = "test-token-123"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


class ClassifyOptions(TypedDict, total=False):
    """The optional keywords of `classify`, passed through by `inbound(...)`."""

    attachment_type: str | None
    attachment_url: str | None
    story_reply: bool
    story_mention: bool


def inbound(
    contact: str = "c1",
    text: str | None = "hello there",
    at: datetime = T0,
    name: str | None = "Sam Doe",
    **kwargs: Unpack[ClassifyOptions],
) -> Inbound:
    kind, clean, media, notes = classify(text=text, **kwargs)
    return Inbound(
        channel="manychat",
        contact_external_id=contact,
        kind=kind,
        text=clean,
        received_at=at,
        contact_name=name,
        media_url=media,
        notes=notes,
    )


def text_inbound(contact: str, text: str, at: datetime = T0) -> Inbound:
    return Inbound("manychat", contact, InboundKind.TEXT, text, at, contact_name="Sam Doe")


# -- PostgreSQL ----------------------------------------------------------------------------


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_available() -> bool:
    try:
        with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    if postgres_available():
        return
    message = (
        f"PostgreSQL is not answering at {POSTGRES_ADMIN_URL}; start it (see README, "
        "'Running the tests') or point DMPILOT_TEST_POSTGRES_URL at a server"
    )
    if os.environ.get("CI"):
        pytest.fail(message + " — CI must run the PostgreSQL tests, not skip them")
    pytest.skip(message)


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty database for one test, dropped afterwards."""
    require_postgres()
    name = f"dmpilot_test_{uuid.uuid4().hex[:12]}"
    admin = _libpq(POSTGRES_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the real server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """`dmpilot serve` as a real process (or several workers) on a loopback port."""

    def __init__(self, workdir: Path, env: dict[str, str], workers: int = 1) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        self.env = {**os.environ, **env}
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        command = [sys.executable, "-m", "dmpilot", "serve", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=self.workdir, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    # with several workers, give every worker time to come up
                    if self.workers > 1:
                        time.sleep(1.0)
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not come up:\n{self.log_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self, "log"):
            self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dmpilot", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        errors="replace",  # a test of bad bytes must see them, not a decoding error
        timeout=timeout,
    )


def cli_stdout(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """The output of a command that must succeed; a failure shows its stdout and stderr."""
    result = run_cli(args, env, cwd)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


# -- talking to a running server ------------------------------------------------------------

# Post one message from a contact, get the webhook's JSON answer.
Send = Callable[[str, str], dict[str, Any]]


@contextlib.contextmanager
def webhook_sender(server: Server, **subscriber: str) -> Iterator[Send]:
    """A `Send` over one kept-alive client; `subscriber` adds fields (a name) to each body.
    Every answer must be a 200."""
    with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as client:

        def post(contact: str, text: str) -> dict[str, Any]:
            body = {"subscriber": {"id": contact, **subscriber}, "last_input_text": text}
            response = client.post("/webhooks/manychat", json=body)
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer

        yield post


def post_message(server: Server, contact: str, text: str, **subscriber: str) -> dict[str, Any]:
    """One message from a contact, on a connection of its own; the webhook's JSON answer,
    which must be a 200. `subscriber` adds fields (a name, a username) to the body."""
    with webhook_sender(server, **subscriber) as send:
        return send(contact, text)


def query_database(url: str, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """Rows of `sql` on a server's database (SQLite or PostgreSQL), read from outside the
    processes under test."""
    engine = create_db_engine(url, pool_size=1)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def query_sqlite(database: Path, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """Rows of `sql` on a server's SQLite file, read from outside the server."""
    return query_database(f"sqlite:///{database}", sql, **params)


# -- personas ------------------------------------------------------------------------------


def example_persona_data() -> dict[str, Any]:
    """The bundled example persona as plain data, for a test to change and write out."""
    data: dict[str, Any] = yaml.safe_load(bundled_persona_path().read_text(encoding="utf-8"))
    return data


def write_persona(directory: Path, data: object) -> Path:
    """`data` written as `persona.yaml` in `directory`; its path."""
    path = directory / "persona.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# -- the engine under test -------------------------------------------------------------------


class FakeClock(ManualClock):
    """The Clock port for tests: wall time moves only when told (see ManualClock)."""

    def __init__(self, start: datetime = T0, real_sleep: bool = False) -> None:
        super().__init__(start, real_sleep)


def engine_config(**overrides: Any) -> EngineConfig:
    """The engine's configuration for tests: no coalescing, a 5 s budget, inline delivery."""
    values: dict[str, Any] = {
        "dedup_window": timedelta(seconds=30),
        "coalesce_seconds": 0.0,
        "reply_budget_seconds": 5.0,
        "lease": timedelta(seconds=20),
        "history_messages": 20,
    }
    return EngineConfig(**(values | overrides))


class EngineHarness:
    """An engine built by bootstrap with test overrides; `handle(inbound)` receives it."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.engine = system.engine

    async def handle(self, message: Inbound) -> Decision:
        return await self.engine.handle(ReceiveMessage(message))

    async def command(self, command: Any) -> Any:
        return await self.engine.handle(command)


def settings_for(database_url: str, **values: Any) -> Settings:
    """Settings for an in-process system: nothing read from the environment by surprise."""
    return Settings(database_url=database_url, **values)


def build_engine(
    store: Store,
    *,
    brain: Brain | None = None,
    persona: Persona | None = None,
    config: EngineConfig,
    clock: FakeClock,
    senders: Mapping[str, Sender] | None = None,
    seed: int = 1,
    settings: Mapping[str, Any] | None = None,
) -> EngineHarness:
    """`settings` are Settings values beside the store's URL (alerts, retention…)."""
    system = bootstrap(
        settings_for(store.engine.url.render_as_string(hide_password=False), **(settings or {})),
        store=store,
        brain=brain or ScriptedBrain(seed=seed),
        persona=persona,
        config=config,
        clock=clock,
        random=SystemRandom(seed),
        senders=senders or {},
    )
    return EngineHarness(system)


# An engine and a worker for it, built with a test's own defaults (a `build` fixture).
Build = Callable[..., tuple[EngineHarness, Worker]]


def build_push_engine(
    store: Store,
    *,
    clock: FakeClock,
    senders: Mapping[str, Sender],
    brain: Brain | None = None,
    persona: Persona | None = None,
    mode: DeliveryMode = DeliveryMode.PUSH,
    **config: Any,
) -> tuple[EngineHarness, Worker]:
    """An engine delivering through the outbox (`mode`) and a worker sending four at a time.
    No gap between two sends to a contact, and three attempts backing off from 1 s: a test
    steps its clock over short, known waits. `config` overrides the engine's configuration."""
    harness = build_engine(
        store,
        brain=brain,
        persona=persona,
        config=engine_config(
            delivery=mode,
            min_send_gap=timedelta(0),
            send_retry=RetryPolicy(max_attempts=3, base_seconds=1, max_seconds=60),
            **config,
        ),
        clock=clock,
        senders=senders,
    )
    return harness, Worker(harness.engine, concurrency=4)


def receive_all(store: Store, clock: FakeClock, *messages: Inbound) -> None:
    """`messages` received one after the other by an engine on `store` (the scripted brain,
    inline delivery: nothing is sent), to seed a database for what a test runs next."""
    harness = build_engine(store, config=engine_config(), clock=clock)

    async def receive() -> None:
        for message in messages:
            await harness.handle(message)

    asyncio.run(receive())


def seeded_sqlite(path: Path, seed: Callable[[Store], None]) -> str:
    """A SQLite file at `path` written by `seed`, and closed again before a real process
    under test opens it; its URL."""
    url = f"sqlite:///{path}"
    store = Store.open(url, pool_size=1)
    try:
        seed(store)
    finally:
        store.close()
    return url


def pause(store: Store, paused: bool, at: datetime = T0, reason: str | None = "test") -> None:
    with store.writing() as unit:
        unit.control.set_paused(paused, reason if paused else None, "test", at)


def control(store: Store) -> ControlState:
    with store.reading() as reads:
        return reads.control()


class WorkerProcess:
    """`dmpilot worker` as a real process."""

    def __init__(self, workdir: Path, env: dict[str, str], name: str = "worker") -> None:
        self.log_path = workdir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.env = {**os.environ, **env}
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dmpilot", "worker"],
            cwd=self.workdir,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        """kill -9: no chance to finish or release anything."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if hasattr(self, "log"):
            self.log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class FailingBrain:
    """Every draft fails, as a provider's outage does. Broadcasts are checked, as for the
    model brains, so a subclass that does answer is held to their rules."""

    name = "failing"
    checks_broadcast = True

    async def generate(self, request: BrainRequest) -> BrainReply:
        raise BrainError("APIStatusError: 529 overloaded")

    async def probe(self, timeout_seconds: float) -> ProbeResult:
        return ProbeResult.ok()

    async def aclose(self) -> None: ...


class RecordingBrain:
    """The scripted brain, keeping every request it was given."""

    name = "recording"
    checks_broadcast = False

    def __init__(self) -> None:
        self.inner = ScriptedBrain(seed=5)
        self.requests: list[BrainRequest] = []
        self.gate: asyncio.Event | None = None  # set: each draft waits for it
        self.started = asyncio.Event()

    async def generate(self, request: BrainRequest) -> BrainReply:
        self.requests.append(request)
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        return await self.inner.generate(request)

    async def probe(self, timeout_seconds: float) -> Any:
        return await self.inner.probe(timeout_seconds)

    async def aclose(self) -> None: ...
