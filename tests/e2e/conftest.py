from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support import TOKEN, Server


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `dmpilot serve` processes; stopped (and PostgreSQL databases dropped) at the end."""
    with ExitStack() as stack:

        def start(workers: int = 1, **env: str) -> Server:
            base = {
                "DMPILOT_WEBHOOK_TOKEN": TOKEN,
                "DMPILOT_COALESCE_SECONDS": "0",
                "DMPILOT_LOG_LEVEL": "warning",
            }
            base.update(env)
            return stack.enter_context(Server(tmp_path, base, workers=workers))

        yield start
