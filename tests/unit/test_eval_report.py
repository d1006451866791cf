"""The score table, the JSON round trip and two runs side by side."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dmpilot.domain.decision import Reason
from dmpilot.eval.kinds import Outcome, ViolationKind
from dmpilot.eval.report import (
    ReportError,
    outcome_changes,
    print_comparison,
    print_report,
    read_report,
)
from dmpilot.eval.results import ConversationScore, OutcomeResult, RunReport
from dmpilot.eval.scores import summarize


def result(outcome: Outcome, passed: bool = True, detail: str = "") -> OutcomeResult:
    return OutcomeResult(outcome=outcome, passed=passed, safety=outcome.safety, detail=detail)


def conversation(scenario: str, *results: OutcomeResult, **fields: Any) -> ConversationScore:
    base: dict[str, Any] = {
        "scenario": scenario,
        "title": scenario,
        "language": scenario[:2],
        "outcomes": list(results),
        "fan_messages": 6,
        "replies": 5,
    }
    return ConversationScore(**(base | fields))


def report(*conversations: ConversationScore, brain: str = "anthropic") -> RunReport:
    return RunReport(
        dmpilot="0.1.0",
        started_at=datetime(2026, 3, 2, 9),
        seconds=4.2,
        brain=brain,
        model="claude-haiku-4-5",
        persona="Lena",
        fan="scripted",
        repeat=1,
        summary=summarize(conversations),
        conversations=list(conversations),
    )


GOOD = report(
    conversation("en-price", result(Outcome.LINK_AT_ASK), asks=1, asks_with_link=1),
    conversation(
        "fr-bot",
        result(Outcome.DISCLOSED_WHEN_ASKED),
        silences={Reason.STOPPED: 2},
        latencies_ms=[80, 120],
    ),
)
BAD = report(
    conversation(
        "en-price",
        result(Outcome.LINK_AT_ASK, False, "no link in the reply to the ask at message 3"),
        asks=1,
    ),
    conversation(
        "fr-bot",
        result(Outcome.DISCLOSED_WHEN_ASKED, False, "answered the bot question with 'yes'"),
        rejections={ViolationKind.CLAIMS_HUMAN: 2},
        rejected_drafts=2,
    ),
)


def rendered(draw: Any) -> str:
    console = Console(record=True, width=140)
    draw(console)
    return console.export_text()


def test_the_score_table_lists_scenarios_totals_and_failures() -> None:
    text = rendered(lambda console: print_report(BAD, console))
    assert "en-price" in text and "fr-bot" in text and "✗ 0/1" in text
    assert "link at the ask" in text and "0%" in text
    assert "rejections by kind" in text and "claims_human 2" in text
    assert "fr-bot · disclosed_when_asked (safety): answered the bot question" in text
    assert "en-price · link_at_ask: no link" in text
    assert "1 safety failure(s)" in text
    good = rendered(lambda console: print_report(GOOD, console))
    assert "every outcome passed" in good and "stopped 2" in good and "1/1" in good


def test_a_report_survives_the_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(BAD.model_dump_json(indent=2), encoding="utf-8")
    again = read_report(path)
    assert again == BAD
    assert again.conversations[1].rejections == {ViolationKind.CLAIMS_HUMAN: 2}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not a report of `dmpilot eval --json`"),
        ('{"format": 1}', "dmpilot: Field required"),
        ("[]", "(top level)"),
    ],
)
def test_a_file_that_is_not_a_report_is_named(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError) as caught:
        read_report(path)
    assert str(caught.value).startswith(f"{path}: ") and problem in str(caught.value)
    with pytest.raises(ReportError, match="cannot be read"):
        read_report(tmp_path / "missing.json")


def test_compare_names_what_got_worse_and_what_got_better() -> None:
    changes = outcome_changes(GOOD, BAD)
    assert [(c.scenario, c.outcome, c.worse) for c in changes] == [
        ("en-price", Outcome.LINK_AT_ASK, True),
        ("fr-bot", Outcome.DISCLOSED_WHEN_ASKED, True),
    ]
    assert all(not c.worse for c in outcome_changes(BAD, GOOD))
    text = rendered(lambda console: print_comparison(GOOD, BAD, console, ("a.json", "b.json")))
    assert "worse fr-bot · disclosed_when_asked (safety): 1/1 passed → 0/1" in text
    lines = {line.split("│")[0].strip(): line for line in text.splitlines() if "│" in line}
    assert "▼ worse" in lines["link at the ask"] and "▲ worse" in lines["safety failures"]
    assert "▲ worse" in lines["rejected: claims_human"]
    assert "▼" in lines["silent: stopped"] and "worse" not in lines["silent: stopped"]
    same = rendered(lambda console: print_comparison(GOOD, GOOD, console, ("a", "b")))
    assert "no outcome changed" in same
