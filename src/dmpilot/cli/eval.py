"""`dmpilot eval`: run the scenarios through the real engine and score the conversations;
`dmpilot eval compare A.json B.json`: what got better or worse between two runs."""

from __future__ import annotations

import asyncio
import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from dmpilot.brains import Brain, ProbeStatus, build_brain
from dmpilot.cli.common import app, console, errors, fail, load_settings
from dmpilot.domain.language import load_models
from dmpilot.eval.catalog import ScenarioError, load
from dmpilot.eval.fan import Fan, ModelFan, ScriptedFan
from dmpilot.eval.report import (
    ReportError,
    exit_code,
    print_comparison,
    print_report,
    read_report,
)
from dmpilot.eval.results import ConversationScore, RunReport
from dmpilot.eval.runner import EvalError, Setup, run_eval
from dmpilot.eval.scenario import Scenario
from dmpilot.personas import PersonaError, load_persona
from dmpilot.settings import Settings

PROBE_SECONDS = 15.0
PIPE_WIDTH = 120


def _wide(shown: Console) -> Console:
    """A terminal's width is respected; a pipe or a CI log gets room for every column."""
    if shown.is_terminal:
        return shown
    return Console(soft_wrap=True, width=max(shown.width, PIPE_WIDTH))


class BrainChoice(StrEnum):
    SCRIPTED = "scripted"
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


class FanBrainChoice(StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"


eval_app = typer.Typer(
    help="Score conversation quality before going live: every scenario through the real "
    "engine, in a temporary database, with the configured brain. Exits 1 when a safety "
    "outcome fails. `dmpilot eval compare A.json B.json` sets two --json runs side by side.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
app.add_typer(eval_app, name="eval")


def _settings(brain: BrainChoice | None, model: str | None, persona: Path | None) -> Settings:
    # The options stand for their environment variables, so the configuration's own checks
    # (a key for anthropic, a URL for openai) name what is missing.
    for name, value in (
        ("DMPILOT_BRAIN", brain.value if brain else None),
        ("DMPILOT_MODEL", model),
        ("DMPILOT_PERSONA", str(persona) if persona else None),
    ):
        if value is not None:
            os.environ[name] = value
    return load_settings()


def _fan_brain(settings: Settings, chosen: FanBrainChoice | None) -> str:
    if chosen is not None:
        kind = chosen.value
    elif settings.brain_kind != "scripted":
        kind = settings.brain_kind
    elif settings.anthropic_api_key is not None:
        kind = "anthropic"
    elif settings.openai_base_url:
        kind = "openai"
    else:
        fail(
            "--fan-model needs a model to play the fan: set ANTHROPIC_API_KEY, or "
            "OPENAI_BASE_URL for a local model (and --fan-brain to choose)"
        )
    if kind == "anthropic" and settings.anthropic_api_key is None:
        fail("--fan-brain anthropic needs ANTHROPIC_API_KEY")
    if kind == "openai" and not settings.openai_base_url:
        fail("--fan-brain openai needs OPENAI_BASE_URL, e.g. http://127.0.0.1:11434/v1")
    return kind


async def _probe(brain: Brain, what: str) -> None:
    result = await brain.probe(PROBE_SECONDS)
    if result.status is ProbeStatus.REFUSED:
        raise EvalError(f"the {what} cannot answer: {result.detail}")
    if result.status is ProbeStatus.UNREACHABLE:
        raise EvalError(f"the {what} is not reachable: {result.detail}")


async def _run(
    setup: Setup, scenarios: list[Scenario], fan_brain: Brain | None, quiet: bool
) -> RunReport:
    brains = [setup.brain, *([fan_brain] if fan_brain is not None else [])]
    try:
        await _probe(setup.brain, f"{setup.brain.name} brain")
        if fan_brain is not None:
            await _probe(fan_brain, "fan model")
        total = len(scenarios) * setup.repeat
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        shown = not quiet and errors.is_terminal  # a pipe or a CI log gets no progress bar
        with Progress(*columns, console=errors, transient=True, disable=not shown) as progress:
            task = progress.add_task("conversations", total=total)

            def done(result: ConversationScore) -> None:
                progress.update(task, advance=1, description=result.scenario)

            return await run_eval(setup, scenarios, done)
    finally:
        for brain in brains:
            await brain.aclose()


@eval_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    brain: Annotated[
        BrainChoice | None,
        typer.Option(help="Brain to evaluate (else DMPILOT_BRAIN, as `serve` would choose)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(metavar="NAME", help="Model name (else DMPILOT_MODEL).")
    ] = None,
    persona: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Persona YAML (else DMPILOT_PERSONA, or the example)."),
    ] = None,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="A directory of your own scenario files, run with the bundled ones (a "
            "scenario with a bundled one's id replaces it).",
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(metavar="GLOB", help="Only scenarios whose id matches, e.g. 'fr-*'."),
    ] = None,
    no_bundled: Annotated[
        bool, typer.Option("--no-bundled", help="Leave the bundled scenarios out.")
    ] = False,
    repeat: Annotated[
        int, typer.Option(min=1, max=20, metavar="N", help="Run every scenario N times.")
    ] = 1,
    fan_model: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Let this model write the fan's messages."),
    ] = None,
    fan_brain: Annotated[
        FanBrainChoice | None,
        typer.Option(help="Provider of --fan-model (else the brain's, or the one configured)."),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            min=1, max=32, metavar="N", help="Conversations at once (use 1 for a local model)."
        ),
    ] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout.")] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any outcome fails, not only safety.")
    ] = False,
) -> None:
    """Run every scenario through the real engine (its own temporary database) with the
    configured brain, and score the conversations. Exits 1 when a safety outcome fails."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(brain, model, persona)
    if no_bundled and scenarios is None:
        fail("--no-bundled needs --scenarios DIR: there would be nothing to run")
    try:
        chosen = load(scenarios, only, include_bundled=not no_bundled)
    except ScenarioError as exc:
        fail(str(exc))
    if not chosen:
        fail(f"no scenario id matches --only {only!r}")
    try:
        loaded = load_persona(settings.persona)
    except PersonaError as exc:
        fail(str(exc))
    if os.environ.get("DMPILOT_LOG_LEVEL", "").lower() != "debug":
        # Every decision is scored from its event; log lines would only bury the table.
        logging.getLogger("dmpilot").setLevel(logging.CRITICAL)
    fan: Fan = ScriptedFan()
    fan_brain_built: Brain | None = None
    if fan_model is not None:
        kind = _fan_brain(settings, fan_brain)
        fan_brain_built = build_brain(
            settings.model_copy(update={"brain": kind, "model": fan_model})
        )
        fan = ModelFan(fan_brain_built, loaded, fan_model)
    setup = Setup(
        settings, loaded, build_brain(settings), fan, repeat=repeat, concurrency=concurrency
    )
    load_models()
    try:
        report = asyncio.run(_run(setup, chosen, fan_brain_built, quiet=as_json))
    except EvalError as exc:
        fail(str(exc), code=1)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_report(report, _wide(console))
    raise typer.Exit(exit_code(report, strict))


@eval_app.command()
def compare(
    before: Annotated[
        Path, typer.Argument(metavar="BEFORE.json", help="An earlier --json report.")
    ],
    after: Annotated[Path, typer.Argument(metavar="AFTER.json", help="A later --json report.")],
) -> None:
    """Two runs side by side: every score, and each outcome that got better or worse."""
    try:
        first, second = read_report(before), read_report(after)
    except ReportError as exc:
        fail(str(exc))
    print_comparison(first, second, _wide(console), (before.name, after.name))
