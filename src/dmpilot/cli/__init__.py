"""The `dmpilot` command: thin Typer commands over the one wired system (bootstrap.py)."""

from dmpilot.cli import alerts as alerts  # registers `dmpilot alerts`
from dmpilot.cli import backup, demo, handoff, inspect, operate, persona, serve
from dmpilot.cli import doctor as doctor  # registers `dmpilot doctor`
from dmpilot.cli import eval as evaluation  # noqa: F401  (registers `dmpilot eval`)
from dmpilot.cli import privacy as privacy  # registers `dmpilot export`, `forget`
from dmpilot.cli.app import run
from dmpilot.cli.common import app

__all__ = ["app", "backup", "demo", "handoff", "inspect", "operate", "persona", "run", "serve"]
