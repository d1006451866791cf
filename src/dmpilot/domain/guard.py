"""The anomaly guard: when too many recent decisions are blocked repetitions or errors,
dmpilot pauses itself. A loop costs the account; a pause costs minutes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from dmpilot.domain.decision import Reason

# Turns that reached a decision of their own; deliveries dropped before a turn (duplicates,
# coalesced, paused, stopped, empty) say nothing about the bot's health.
REPETITION_REASONS = frozenset({Reason.REPETITION.value, Reason.BROADCAST.value})
ERROR_REASONS = frozenset({Reason.ERROR.value, Reason.TIMEOUT.value})
TRIGGERS = frozenset({Reason(r) for r in REPETITION_REASONS | ERROR_REASONS})
NOT_A_TURN = frozenset(
    {"duplicate", "coalesced", "paused", "stopped", "empty", "minor", "opt_out", "budget"}
)


@dataclass(frozen=True, slots=True)
class GuardConfig:
    window: timedelta = timedelta(minutes=10)
    min_decisions: int = 20
    max_repetition_share: float = 0.3
    max_error_share: float = 0.5


def verdict(mix: Mapping[tuple[str, str | None], int], config: GuardConfig) -> str | None:
    """Why to pause, given event counts by (kind, reason) over the window; None: all well."""
    decisions = repetitions = errors = 0
    for (kind, reason), count in mix.items():
        if kind in ("sent", "exit") or (kind == "skipped" and reason not in NOT_A_TURN):
            decisions += count
        if kind == "skipped" and reason in REPETITION_REASONS:
            repetitions += count
        if kind == "skipped" and reason in ERROR_REASONS:
            errors += count
    if decisions < config.min_decisions:
        return None
    minutes = int(config.window.total_seconds() // 60)
    if repetitions / decisions >= config.max_repetition_share:
        return f"{repetitions} of {decisions} decisions in {minutes} min were blocked repetitions"
    if errors / decisions >= config.max_error_share:
        return f"{errors} of {decisions} decisions in {minutes} min were errors or timeouts"
    return None
