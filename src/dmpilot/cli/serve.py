"""Running dmpilot: the server (with its worker), the worker alone, migrations."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import secrets
import signal
import socket
import tempfile
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from dmpilot import __version__
from dmpilot.alerts.chore import ALERT_CHORE
from dmpilot.bootstrap import System
from dmpilot.brains import Brain, ProbeResult, ProbeStatus
from dmpilot.cli.common import app, console, errors, fail, load_settings, open_system
from dmpilot.domain.decision import EventKind
from dmpilot.domain.language import load_models
from dmpilot.logs import logging_config
from dmpilot.personas import bundled_persona_path
from dmpilot.settings import Settings
from dmpilot.web.auth import is_loopback

PROBE_SECONDS = 5.0
ALERT_BOUND_SECONDS = 10.0  # the alert check run before refusing to start: its reads and writes


def _refuse_unsafe_exposure(settings: Settings, host: str, demo: bool) -> None:
    if is_loopback(host):
        return
    if settings.token is None:
        fail(
            f"refusing to listen on {host} without a webhook token: anyone could drive the "
            "account. Set DMPILOT_WEBHOOK_TOKEN, or listen on 127.0.0.1."
        )
    if demo:
        return
    bundled = settings.persona is None or settings.persona.resolve() == bundled_persona_path()
    if bundled:
        fail(
            f"refusing to listen on {host} with the bundled example persona: a live account "
            "would answer as a fictional photographer with an example.com link. Set "
            "DMPILOT_PERSONA to your persona file, or pass --demo to serve the example anyway."
        )
    if settings.brain_kind == "scripted":
        fail(
            f"refusing to listen on {host} with the scripted brain: it answers from a fixed "
            "phrase bank, made for demos and tests. Set ANTHROPIC_API_KEY (or DMPILOT_BRAIN), "
            "or pass --demo."
        )


def _refuse_busy_port(host: str, port: int) -> None:
    """Bind host:port once before anything starts: uvicorn would otherwise migrate, start the
    app and only then log the bind error as a JSON line among a dozen others."""
    if not host.strip():
        # An empty address means every interface to the socket layer, never what was meant.
        fail("--host needs an address, e.g. --host 127.0.0.1")
    try:
        # The addresses uvicorn listens on: every one the name resolves to.
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        fail(f"cannot listen on {host!r}: {_reason(exc)}; pass --host with this machine's address")
    for family, kind, proto, _name, address in addresses:
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:
            continue  # an address family this machine lacks; asyncio skips it too
        with probe:
            # As asyncio's create_server: a port left in TIME_WAIT by a stopped server is
            # free, and IPv6 sockets do not also claim the IPv4 port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                _refuse_bind(host, port, exc)


def _refuse_bind(host: str, port: int, exc: OSError) -> NoReturn:
    if exc.errno == errno.EADDRINUSE:
        fail(
            f"port {port} on {host} is already in use — stop the other process or pass --port",
            code=1,
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        fail(f"{host} is not an address of this machine; pass --host, e.g. 127.0.0.1")
    if exc.errno == errno.EACCES:
        fail(
            f"port {port} on {host} needs more privileges (ports below 1024 need root); "
            "pass --port 8000, or put a proxy in front",
            code=1,
        )
    fail(f"cannot listen on {host} port {port} ({_reason(exc)}); pass --host or --port", code=1)


def _reason(exc: OSError | UnicodeError) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _trusted_proxies(value: str) -> str:
    """--proxy as uvicorn wants it, or a one-line error: uvicorn silently treats any entry that
    is not an IP address or network as a literal that never matches, so a typo would trust
    no proxy without a word."""
    if value.strip() == "*":
        return "*"
    entries = [entry.strip() for entry in value.split(",")]
    for entry in entries:
        try:
            if "/" in entry:
                ipaddress.ip_network(entry)  # strict: host bits set is a typo, not a network
            else:
                ipaddress.ip_address(entry)
        except ValueError as exc:  # its text names the entry and what is wrong with it
            fail(
                f"--proxy {value!r}: {exc}; give '*' or comma-separated IP addresses and "
                "CIDR networks, e.g. --proxy 127.0.0.1,10.0.0.0/8"
            )
    return ",".join(entries)


def _probe_brain(system: System) -> None:
    """A wrong key refuses to start; an unreachable endpoint starts with a loud warning.
    Either is an event, which the alert check turns into an alert."""
    brain = system.brain
    result = asyncio.run(_run_probe(brain))
    if result.status is not ProbeStatus.OK:
        _record_probe_failure(system, brain.name, result)
    if result.status is ProbeStatus.REFUSED:
        fail(f"the {brain.name} brain cannot answer: {result.detail}", code=1)
    if result.status is ProbeStatus.UNREACHABLE:
        errors.print(
            f"[bold yellow]warning:[/] the {brain.name} brain is not reachable right now "
            f"({result.detail}); starting anyway: replies are skipped with reason 'error' "
            "until it answers",
            highlight=False,
        )


async def _run_probe(brain: Brain) -> ProbeResult:
    try:
        return await brain.probe(PROBE_SECONDS)
    finally:
        await brain.aclose()


def _record_probe_failure(system: System, brain: str, result: ProbeResult) -> None:
    """The failed check as an event. A refused brain stops the server, so its chores never
    run: the alert check runs once here, bounded, before the server refuses to start."""
    try:
        with system.store.writing() as unit:
            unit.events.record(
                system.clock.now(),
                EventKind.BRAIN_PROBE_FAILED,
                result.status.value,
                detail={"brain": brain, "detail": result.detail},
            )
        if result.status is ProbeStatus.REFUSED:
            asyncio.run(_check_alerts_now(system))
    except Exception as exc:  # an alert must never change how serve starts or refuses to
        errors.print(
            f"[yellow]could not record or alert the failed check: "
            f"{escape(f'{type(exc).__name__}: {exc}')}[/]",
            highlight=False,
        )
    finally:
        system.close_store()  # the server opens its own


async def _check_alerts_now(system: System) -> None:
    bound = ALERT_BOUND_SECONDS + 3 * system.settings.alert_timeout_seconds
    for chore in system.chores:
        if chore.name == ALERT_CHORE:
            await asyncio.wait_for(chore.run(), bound)


def _probe_instagram(settings: Settings) -> None:
    """A refused token starts with a loud warning, not a refusal: Meta's webhooks are still
    stored, and the first send would pause the account anyway."""
    token, account = settings.meta_access_token, settings.meta_account_id
    if not (settings.instagram and token and account):
        return
    from dmpilot.channels.instagram_api import InstagramSender

    sender = InstagramSender(
        token.get_secret_value(),
        account,
        settings.meta_graph_url,
        timeout_seconds=min(settings.meta_timeout_seconds, PROBE_SECONDS),
    )

    async def probe() -> str | None:
        try:
            return await sender.probe()
        finally:
            await sender.aclose()

    problem = asyncio.run(probe())
    if problem is not None:
        errors.print(
            f"[bold yellow]warning:[/] Instagram: {problem}; starting anyway: messages are "
            "stored, and the first refused send pauses the account",
            highlight=False,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")
    ] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, metavar="N", help="Server processes.")] = 1,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Allow a public address with the example persona or the scripted brain.",
        ),
    ] = False,
    proxy: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESSES",
            help="Trust X-Forwarded-* headers from these addresses (your HTTPS proxy): "
            "IPs and CIDR networks, comma-separated, or '*'.",
        ),
    ] = None,
) -> None:
    """Run the webhook server and its delivery worker (SQLite, the example persona and the
    scripted brain by default)."""
    import uvicorn

    trusted = _trusted_proxies(proxy) if proxy is not None else None
    _refuse_busy_port(host, port)
    settings = load_settings()
    _refuse_unsafe_exposure(settings, host, demo)
    system = open_system(settings)
    persona, database = system.persona, system.store.url
    system.close_store()  # migrated once here, with a clear error if the database is away
    _probe_brain(system)
    _probe_instagram(settings)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own files; /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="dmpilot-metrics-")
    console.print(
        f"dmpilot {__version__}: persona [bold]{persona.name}[/], brain "
        f"[bold]{settings.brain_kind}[/], delivery [bold]{settings.delivery_mode.value}[/], "
        f"database {database}",
        highlight=False,
    )
    if settings.instagram:
        console.print(
            f"instagram: Meta's webhook at /webhooks/instagram for account "
            f"{settings.meta_account_id}; replies through {settings.meta_graph_url}",
            highlight=False,
        )
    if settings.token is None:
        console.print(
            "no DMPILOT_WEBHOOK_TOKEN set: listening on loopback only, without a token",
            highlight=False,
        )
    _announce_console(settings, host, port)
    uvicorn.run(
        "dmpilot.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        proxy_headers=trusted is not None,
        forwarded_allow_ips=trusted,
    )


def _announce_console(settings: Settings, host: str, port: int) -> None:
    """Say where the console is and what signs in. With no token and no console password,
    make one up for this run: the server processes uvicorn starts inherit it."""
    address = f"[{host}]" if ":" in host else host
    url = f"http://{address}:{port}/console"
    if settings.console_secret is None:
        password = secrets.token_urlsafe(12)
        os.environ["DMPILOT_CONSOLE_PASSWORD"] = password
        console.print(
            f"console: {url} — sign in with [bold]{password}[/] (made up for this run; set "
            "DMPILOT_CONSOLE_PASSWORD to keep one)",
            highlight=False,
        )
        return
    secret = "DMPILOT_CONSOLE_PASSWORD" if settings.console_password else "DMPILOT_WEBHOOK_TOKEN"
    console.print(f"console: {url} — sign in with {secret}", highlight=False)


@app.command()
def worker() -> None:
    """Run the delivery worker alone (to scale out; `serve` already runs one)."""
    import logging.config

    settings = load_settings()
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    system = open_system(settings, pool_size=settings.pool_size)
    load_models()
    console.print(
        f"dmpilot {__version__} worker: delivery {settings.delivery_mode.value}, "
        f"database {system.store.url}",
        highlight=False,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        worker = system.worker

        def stop() -> None:
            console.print("worker stopping: finishing the turns and sends in flight")
            worker.request_stop()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        try:
            await worker.run()
        finally:
            await system.aclose()

    asyncio.run(main())


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (serve does this by itself)."""
    system = open_system()
    console.print(f"schema is up to date in {system.store.url}", highlight=False)
    system.close_store()
