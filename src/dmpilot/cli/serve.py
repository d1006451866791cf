"""Running dmpilot: the server (with its worker), the worker alone, migrations."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from typing import Annotated

import typer

from dmpilot import __version__
from dmpilot.brains import Brain, ProbeResult, ProbeStatus
from dmpilot.cli.common import app, console, errors, fail, load_settings, open_system
from dmpilot.domain.language import load_models
from dmpilot.logs import logging_config
from dmpilot.personas import bundled_persona_path
from dmpilot.settings import Settings
from dmpilot.web.auth import is_loopback

PROBE_SECONDS = 5.0


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


def _probe_brain(brain: Brain) -> None:
    """A wrong key refuses to start; an unreachable endpoint starts with a loud warning."""
    result = asyncio.run(_run_probe(brain))
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
            metavar="ADDRESS",
            help="Trust X-Forwarded-* headers from this address (your HTTPS proxy).",
        ),
    ] = None,
) -> None:
    """Run the webhook server and its delivery worker (SQLite, the example persona and the
    scripted brain by default)."""
    import uvicorn

    settings = load_settings()
    _refuse_unsafe_exposure(settings, host, demo)
    system = open_system(settings)
    persona, database = system.persona, system.store.url
    system.close_store()  # migrated once here, with a clear error if the database is away
    _probe_brain(system.brain)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own files; /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="dmpilot-metrics-")
    console.print(
        f"dmpilot {__version__}: persona [bold]{persona.name}[/], brain "
        f"[bold]{settings.brain_kind}[/], delivery [bold]{settings.delivery_mode.value}[/], "
        f"database {database}",
        highlight=False,
    )
    if settings.token is None:
        console.print(
            "no DMPILOT_WEBHOOK_TOKEN set: listening on loopback only, without a token",
            highlight=False,
        )
    uvicorn.run(
        "dmpilot.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        proxy_headers=proxy is not None,
        forwarded_allow_ips=proxy,
    )


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
