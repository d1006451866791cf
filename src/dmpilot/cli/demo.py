"""`dmpilot demo`: a simulated history through the real engine, in its own database."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from dmpilot.cli.common import (
    app,
    console,
    fail,
    invocation,
    load_settings,
    open_system,
    read,
)
from dmpilot.demo import CHANNEL, demo_system, run_demo
from dmpilot.domain.language import load_models
from dmpilot.runtime import utcnow
from dmpilot.store.database import masked_url

DEFAULT_FILE = Path("dmpilot-demo.db")


@app.command()
def demo(
    contacts: Annotated[
        int, typer.Option(min=1, max=2000, metavar="N", help="Simulated fans.")
    ] = 60,
    file: Annotated[
        Path,
        typer.Option(metavar="PATH", help="SQLite file the demo writes (its own, by default)."),
    ] = DEFAULT_FILE,
    into_database: Annotated[
        bool,
        typer.Option(
            "--into-database",
            help="Write into DMPILOT_DATABASE_URL / --database instead; refused when it "
            "holds real contacts.",
        ),
    ] = False,
) -> None:
    """Fill a database with a realistic simulated history (scripted brain, real engine)."""
    if not into_database and file.is_dir():
        # Typer turns an empty --file into ".", the working directory.
        fail(f"--file {str(file)!r} is a directory; give a file for the demo, e.g. --file demo.db")
    settings = load_settings()
    if not into_database:
        settings = settings.model_copy(update={"database_url": f"sqlite:///{file}"})
    system = open_system(settings)
    real = read(system, lambda reads: reads.contacts_outside(CHANNEL))
    if real:
        fail(
            f"{masked_url(settings.database_url)} holds {real} real contacts; the demo never "
            f"writes next to them. Run it on its own file: dmpilot demo --file demo.db",
            code=1,
        )
    if not into_database and read(system, lambda reads: reads.contact_count()):
        # A demo file of an earlier run: start it over, so each demo is one history.
        system.close_store()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{file}{suffix}").unlink(missing_ok=True)
        system = open_system(settings)
    load_models()
    simulated = demo_system(system.store, settings, utcnow() - timedelta(days=4))
    with console.status(f"simulating {contacts} fans through the engine…"):
        outcomes: Counter[str] = asyncio.run(run_demo(simulated, contacts))
    system.close_store()
    summary = ", ".join(f"{reason} {count}" for reason, count in outcomes.most_common())
    where = masked_url(settings.database_url)
    console.print(f"[bold green]demo history written[/] to {where}: {summary}", highlight=False)
    option = f"--database {where}"
    console.print("look at it with:", highlight=False)
    for command in ("audit", "stats", "history fan005", "history fan020", "deliveries"):
        console.print(f"  {invocation()} {option} {command}", highlight=False, soft_wrap=True)
