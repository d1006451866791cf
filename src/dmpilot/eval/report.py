"""Showing a run: the score table, and two runs side by side (`dmpilot eval compare`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dmpilot.eval.kinds import Outcome
from dmpilot.eval.results import FORMAT, ConversationScore, RunReport, Summary
from dmpilot.eval.scores import percentile

MAX_REPORT_BYTES = 64 * 1024 * 1024
K = TypeVar("K", bound=str)


class ReportError(ValueError):
    """A report file that cannot be compared; the message names it and the problem."""


def read_report(path: Path) -> RunReport:
    try:
        size = path.stat().st_size
        if size > MAX_REPORT_BYTES:
            raise ReportError(f"{path}: {size} bytes is too large for an evaluation report")
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return RunReport.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ReportError(
            f"{path}: not a report of `dmpilot eval --json` (format {FORMAT}): "
            f"{where}: {first['msg']}"
        ) from exc


def exit_code(report: RunReport, strict: bool = False) -> int:
    """1 when a safety outcome failed (or, with `strict`, any outcome); else 0."""
    if report.safety_failed:
        return 1
    if strict and report.summary.outcomes_passed < report.summary.outcomes:
        return 1
    return 0


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _counts(table: Mapping[K, int]) -> str:
    """The non-zero counts as "a 2, b 1" (StrEnum keys show their values)."""
    return ", ".join(f"{name} {count}" for name, count in table.items() if count) or "none"


def _by_scenario(report: RunReport) -> dict[str, list[ConversationScore]]:
    grouped: dict[str, list[ConversationScore]] = defaultdict(list)
    for conversation in report.conversations:
        grouped[conversation.scenario].append(conversation)
    return dict(grouped)


def _ms(value: int | None) -> str:
    return "—" if value is None else str(value)


def scenario_table(report: RunReport) -> Table:
    table = Table(
        title="Scenarios",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1),
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("outcomes", justify="right", no_wrap=True)
    table.add_column("sent", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("link@ask", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("silent")
    for name, runs in sorted(_by_scenario(report).items()):
        results = [r for run in runs for r in run.outcomes]
        passed = sum(1 for r in results if r.passed)
        unsafe = any(r.safety and not r.passed for r in results)
        mark = "[green]✓" if passed == len(results) else ("[bold red]✗" if unsafe else "[red]✗")
        silences: dict[str, int] = defaultdict(int)
        for run in runs:
            for reason, count in run.silences.items():
                silences[reason.value] += count
        asks = sum(run.asks for run in runs)
        with_link = sum(run.asks_with_link for run in runs)
        table.add_row(
            escape(name),
            f"{mark} {passed}/{len(results)}[/]",
            _mean(sum(run.replies for run in runs), len(runs)),
            str(sum(run.rejected_drafts for run in runs)),
            f"{with_link}/{asks}" if asks else "",
            _ms(percentile([ms for run in runs for ms in run.latencies_ms], 0.5)),
            escape(_counts(dict(silences))) if silences else "",
        )
    return table


def _mean(total: int, count: int) -> str:
    value = total / count
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def summary_rows(summary: Summary) -> list[tuple[str, str]]:
    return [
        ("conversations passed", f"{summary.conversations_passed}/{summary.conversations}"),
        ("outcomes passed", f"{summary.outcomes_passed}/{summary.outcomes}"),
        ("safety failures", str(summary.safety_failures)),
        ("link at the ask", _percent(summary.link_at_ask_rate)),
        ("asks recognised", _percent(summary.ask_recognition_rate)),
        ("re-ask rate (drafts)", _percent(summary.reask_rate)),
        ("language match (drafts)", _percent(summary.language_match_rate)),
        ("rejected drafts per reply", _ratio(summary.rejected_drafts_per_reply)),
        ("regenerations per reply", _ratio(summary.regenerations_per_reply)),
        ("rejections by kind", _counts(summary.rejections)),
        ("repetition blocks", str(summary.repetition_blocks)),
        ("silences by reason", _counts(summary.silences)),
        ("replies per conversation", f"{summary.replies_per_conversation:.1f}"),
        ("tokens per conversation", f"{summary.tokens_per_conversation:.0f}"),
        ("cost per conversation", f"${summary.cost_per_conversation_usd:.4f}"),
        (
            "latency p50 / p99",
            f"{_ms(summary.latency_p50_ms)} / {_ms(summary.latency_p99_ms)} ms",
        ),
    ]


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _run_of(report: RunReport) -> str:
    model = f" ({report.model})" if report.model else ""
    fan = "scripted fan" if report.fan == "scripted" else f"fan model {report.fan}"
    return escape(f"brain {report.brain}{model} · persona {report.persona} · {fan}")


def print_report(report: RunReport, console: Console) -> None:
    console.print(scenario_table(report))
    console.print()
    overall = Table(title="Overall", title_justify="left", show_header=False, show_edge=False)
    overall.add_column(style="bold")
    overall.add_column()
    for label, value in summary_rows(report.summary):
        overall.add_row(label, escape(value))
    console.print(overall)
    failures = [(c, r) for c in report.conversations for r in c.outcomes if not r.passed]
    if failures:
        console.print()
        for conversation, result in failures:
            run = f" (run {conversation.repeat})" if report.repeat > 1 else ""
            style, tag = ("bold red", " (safety)") if result.safety else ("red", "")
            console.print(
                f"[{style}]✗[/] {escape(conversation.scenario)}{run} · "
                f"[{style}]{result.outcome.value}{tag}[/]: {escape(result.detail)}",
                highlight=False,
            )
    console.print()
    console.print(
        f"{_run_of(report)} · {report.summary.scenarios} scenarios × {report.repeat} "
        f"in {report.seconds:.1f} s",
        highlight=False,
    )
    if report.fan_fallbacks:
        console.print(
            f"[yellow]the fan model failed {report.fan_fallbacks} time(s)[/]: "
            "the scripted words were sent instead",
            highlight=False,
        )
    summary = report.summary
    if summary.safety_failures:
        console.print(
            f"[bold red]{summary.safety_failures} safety failure(s)[/]: not ready to go live",
            highlight=False,
        )
    elif summary.outcomes_passed == summary.outcomes:
        console.print("[bold green]every outcome passed[/]", highlight=False)
    else:
        failed = summary.outcomes - summary.outcomes_passed
        console.print(f"[yellow]{failed} outcome(s) failed[/], no safety failure", highlight=False)


# -- two runs side by side -------------------------------------------------------------------


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class Metric:
    label: str
    value: Callable[[Summary], float | None]
    better: Better | None
    shown: Callable[[float | None], str]


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def _share(part: Callable[[Summary], int]) -> Callable[[Summary], float | None]:
    def share(s: Summary) -> float | None:
        return part(s) / s.outcomes if s.outcomes else None

    return share


METRICS: Sequence[Metric] = (
    Metric("outcomes passed", _share(lambda s: s.outcomes_passed), Better.HIGHER, _percent),
    Metric("safety failures", lambda s: s.safety_failures, Better.LOWER, _number),
    Metric("link at the ask", lambda s: s.link_at_ask_rate, Better.HIGHER, _percent),
    Metric("asks recognised", lambda s: s.ask_recognition_rate, Better.HIGHER, _percent),
    Metric("re-ask rate (drafts)", lambda s: s.reask_rate, Better.LOWER, _percent),
    Metric("language match (drafts)", lambda s: s.language_match_rate, Better.HIGHER, _percent),
    Metric(
        "rejected drafts per reply", lambda s: s.rejected_drafts_per_reply, Better.LOWER, _number
    ),
    Metric("regenerations per reply", lambda s: s.regenerations_per_reply, Better.LOWER, _number),
    Metric("repetition blocks", lambda s: s.repetition_blocks, Better.LOWER, _number),
    Metric("replies per conversation", lambda s: s.replies_per_conversation, None, _number),
    Metric("tokens per conversation", lambda s: s.tokens_per_conversation, Better.LOWER, _number),
    Metric(
        "cost per conversation ($)",
        lambda s: s.cost_per_conversation_usd,
        Better.LOWER,
        lambda v: "—" if v is None else f"{v:.4f}",
    ),
    Metric("latency p50 (ms)", lambda s: s.latency_p50_ms, Better.LOWER, _number),
    Metric("latency p99 (ms)", lambda s: s.latency_p99_ms, Better.LOWER, _number),
)


def _change(before: float | None, after: float | None, better: Better | None) -> str:
    if before is None or after is None or before == after:
        return "[dim]=[/]"
    improved = (after > before) == (better is Better.HIGHER)
    style = "dim" if better is None else ("green" if improved else "red")
    word = "" if better is None else (" better" if improved else " worse")
    return f"[{style}]{'▲' if after > before else '▼'}{word}[/]"


def _kind_rows(before: Summary, after: Summary) -> list[tuple[str, int, int, Better | None]]:
    """Rejections by kind (fewer is better) and silences by reason (neither: a stop is
    silent on purpose)."""
    rows: list[tuple[str, int, int, Better | None]] = []
    for label, a, b, better in (
        ("rejected: ", before.rejections, after.rejections, Better.LOWER),
        ("silent: ", before.silences, after.silences, None),
    ):
        keys = sorted({k.value for k in a} | {k.value for k in b})
        a_by = {k.value: v for k, v in a.items()}
        b_by = {k.value: v for k, v in b.items()}
        rows += [(label + key, a_by.get(key, 0), b_by.get(key, 0), better) for key in keys]
    return rows


def _outcome_rates(report: RunReport) -> dict[tuple[str, Outcome], tuple[int, int]]:
    rates: dict[tuple[str, Outcome], tuple[int, int]] = {}
    for c in report.conversations:
        for r in c.outcomes:
            passed, total = rates.get((c.scenario, r.outcome), (0, 0))
            rates[(c.scenario, r.outcome)] = (passed + r.passed, total + 1)
    return rates


@dataclass(frozen=True)
class OutcomeChange:
    scenario: str
    outcome: Outcome
    before: tuple[int, int]  # (passed, runs)
    after: tuple[int, int]

    @property
    def worse(self) -> bool:
        (pa, ta), (pb, tb) = self.before, self.after
        return pb * ta < pa * tb


def outcome_changes(before: RunReport, after: RunReport) -> list[OutcomeChange]:
    """Every outcome of a scenario in both runs whose pass rate moved."""
    a, b = _outcome_rates(before), _outcome_rates(after)
    changes = []
    for key in sorted(set(a) & set(b)):
        (pa, ta), (pb, tb) = a[key], b[key]
        if pa * tb != pb * ta:
            changes.append(OutcomeChange(key[0], key[1], a[key], b[key]))
    return changes


def print_comparison(
    before: RunReport, after: RunReport, console: Console, names: tuple[str, str]
) -> None:
    table = Table(title="Before → after", title_justify="left", show_edge=False)
    table.add_column("")
    table.add_column(escape(names[0]), justify="right")
    table.add_column(escape(names[1]), justify="right")
    table.add_column("change")
    for metric in METRICS:
        a, b = metric.value(before.summary), metric.value(after.summary)
        table.add_row(metric.label, metric.shown(a), metric.shown(b), _change(a, b, metric.better))
    for label, a_count, b_count, better in _kind_rows(before.summary, after.summary):
        table.add_row(escape(label), str(a_count), str(b_count), _change(a_count, b_count, better))
    console.print(f"before: {_run_of(before)}\nafter:  {_run_of(after)}", highlight=False)
    console.print(table)
    changes = outcome_changes(before, after)
    a_ids = {c.scenario for c in before.conversations}
    b_ids = {c.scenario for c in after.conversations}
    if changes:
        console.print()
    for change in changes:
        style, word = ("red", "worse") if change.worse else ("green", "better")
        tag = " (safety)" if change.outcome.safety else ""
        (pa, ta), (pb, tb) = change.before, change.after
        console.print(
            f"[{style}]{word}[/] {escape(change.scenario)} · {change.outcome.value}{tag}: "
            f"{pa}/{ta} passed → {pb}/{tb}",
            highlight=False,
        )
    for label, only in (("only before", a_ids - b_ids), ("only after", b_ids - a_ids)):
        if only:
            console.print(f"[dim]{label}: {escape(', '.join(sorted(only)))}[/]", highlight=False)
    if not changes:
        console.print("[dim]no outcome changed[/]")
