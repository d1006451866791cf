"""CPU per message in the engine alone: no HTTP, no uvicorn, one message at a time.

    python bench/engine.py [--backend sqlite|postgres] [--batches 10] [--postgres URL]

dmpilot inline (scripted brain, coalescing off), the real store on a new database, 1,000
contacts writing in turn. It prints the process CPU milliseconds per message over batches
of 200 messages (the first batch is a warm-up): the minimum, lower quartile and median.

To compare with another version, run that version's source with the same command:

    git worktree add /tmp/dmpilot-before <commit>
    PYTHONPATH=/tmp/dmpilot-before/src python bench/engine.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from webhook import dmpilot_env

BATCH = 200


async def measure(database: str, batches: int) -> list[float]:
    os.environ.update(dmpilot_env(database))  # as bench/webhook.py runs dmpilot
    import dmpilot.cli.app  # noqa: F401  (the CLI's import order: settings, then brains)
    from dmpilot.bootstrap import bootstrap
    from dmpilot.channels import manychat
    from dmpilot.domain.commands import ReceiveMessage
    from dmpilot.domain.language import load_models
    from dmpilot.settings import Settings

    system = bootstrap(Settings())
    load_models()
    per_message = []
    sent = 0
    try:
        for _ in range(batches):
            started = time.process_time()
            for _ in range(BATCH):
                sent += 1
                payload = {
                    "subscriber": {"id": f"c{sent % 1000}", "name": "Bench Fan"},
                    "last_input_text": f"message {sent} from a fan",
                }
                inbound = manychat.parse(payload, system.clock.now())
                await system.engine.handle(ReceiveMessage(inbound))
            per_message.append((time.process_time() - started) * 1000 / BATCH)
    finally:
        await system.aclose()
    return per_message[1:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server where the bench may create and drop a database",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dmpilot-bench-") as tmp:
        if args.backend == "sqlite":
            cpu = asyncio.run(measure(f"sqlite:///{Path(tmp) / 'engine.db'}", args.batches))
        else:
            name = f"dmpilot_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            try:
                url = sa.make_url(args.postgres).set(database=name)
                database = url.render_as_string(hide_password=False)
                cpu = asyncio.run(measure(database, args.batches))
            finally:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    cpu.sort()
    print(
        f"engine CPU ms per message ({args.backend}, {len(cpu)} batches of {BATCH}): "
        f"min {cpu[0]:.2f}  q1 {cpu[len(cpu) // 4]:.2f}  median {statistics.median(cpu):.2f}"
    )


if __name__ == "__main__":
    main()
