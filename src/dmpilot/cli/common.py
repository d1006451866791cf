"""What every command shares: the Typer app, one-line errors, settings, the wired system."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from dmpilot.bootstrap import System, bootstrap
from dmpilot.domain.contacts import ContactInfo, ContactRef
from dmpilot.domain.ports import StoreUnavailable
from dmpilot.personas import PersonaError
from dmpilot.settings import Settings
from dmpilot.store import ReadUnit
from dmpilot.store.database import UnsupportedDatabase

# The CONTACT argument of every command that acts on one contact.
ContactArgument = Annotated[
    str, typer.Argument(metavar="CONTACT", help="Subscriber id, @username or id:<n>.")
]

T = TypeVar("T")

app = typer.Typer(
    help="dmpilot answers Instagram DMs as an AI persona, and never embarrasses the account.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(soft_wrap=True)  # long lines stay one line in logs and pipes
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural_form or word + 's'}"


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # One line per problem, from pydantic's message only: never its input (a secret).
        lines = [
            f"  {_setting_problem(err['loc'], err['type'], err['msg'])}" for err in exc.errors()
        ]
        fail("the configuration is not valid:\n" + "\n".join(lines))


def _setting_problem(loc: tuple[int | str, ...], kind: str, message: str) -> str:
    if kind == "value_error" or not loc:
        # Settings' own checks already name the variable and the fix.
        return message.removeprefix("Value error, ")
    name = "_".join(str(part) for part in loc).upper()
    # Aliased fields (ANTHROPIC_API_KEY ...) report their DMPILOT_ alias as the location.
    return f"{name if name.startswith('DMPILOT_') else 'DMPILOT_' + name}: {message}"


def open_system(settings: Settings | None = None, *, pool_size: int = 2) -> System:
    """The wired system, with the persona loaded and the database opened (and migrated);
    any problem is one line naming the fix."""
    settings = settings or load_settings()
    settings = settings.model_copy(update={"pool_size": min(settings.pool_size, pool_size)})
    system = bootstrap(settings)
    try:
        _ = system.persona
    except PersonaError as exc:
        fail(str(exc))
    try:
        _ = system.store
    except UnsupportedDatabase as exc:
        fail(str(exc))
    except StoreUnavailable as exc:
        fail(f"cannot open the {exc}", code=1)
    return system


def read(system: System, work: Callable[[ReadUnit], T]) -> T:
    with system.store.reading() as unit:
        return work(unit)


def find_contact(system: System, text: str) -> ContactInfo:
    """A contact by subscriber id, @username or id:<n>; a clear error if there is none."""
    try:
        ref = ContactRef.parse(text)
    except ValueError as exc:
        fail(str(exc))
    found = read(system, lambda reads: reads.find_contact(ref))
    if found is None:
        kinds = {"external": "subscriber id", "username": "username", "internal": "contact id"}
        fail(
            f"no contact with {kinds[ref.kind.value]} {str(ref)!r}; give a subscriber id, "
            "@username or id:<number> (dmpilot status lists how many contacts there are)",
            code=1,
        )
    return found


def contact_name(contact: ContactInfo) -> str:
    """A contact as every command names it: its channel id, and its @username if known."""
    return contact.external_id + (f" (@{contact.username})" if contact.username else "")


def invocation() -> str:
    """How to call dmpilot again from this shell: `dmpilot` when it is on the PATH, else
    the path it was just called by (.venv/bin/dmpilot), else `python -m dmpilot`."""
    called = Path(sys.argv[0])
    if shutil.which("dmpilot") or not sys.argv[0]:
        return "dmpilot"
    if called.name == "__main__.py":
        return f"{sys.executable} -m dmpilot"
    return str(called) if called.parent != Path() else "dmpilot"


def operator() -> str:
    return f"cli:{os.getenv('USER', 'unknown')}"
